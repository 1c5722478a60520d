"""Health management as a service: a patient's personal health record for the clinicians and
health managers whose scope covers the patient (clinical data: `patients.clinical`, the same
object-level check as the patient records), audited with the patient as subject."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from careops.care.health import HealthRecord, Plans, health_record, load_plans

if TYPE_CHECKING:
    from careops.service import Ops


def record(ops: Ops, user_id: str, as_of: date, plans: Plans | None = None) -> HealthRecord:
    """The personal health record of `user_id` as of a day; scoped and audited."""
    from careops.privacy.access import check_patient_access

    plans = plans or load_plans()
    with ops.warehouse(read_only=True) as con:
        access = check_patient_access(ops, user_id, "patients.clinical", con=con)
        result = health_record(con, user_id, as_of, ops.settings, plans)
    ops.audit(
        "health.record",
        user_id,
        {
            "as_of": as_of.isoformat(),
            "fields": ["conditions", "consultations", "prescriptions", "observations", "plans"],
            "scope": access.scope,
        },
        subject=user_id,
    )
    return result
