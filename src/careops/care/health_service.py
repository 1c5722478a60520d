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


def raise_refill_reminders(
    ops: Ops, as_of: date, plans: Plans | None = None, *, due_hours: int = 24
) -> list[int]:
    """One task per patient, drug and supply end running out within the lead time (key
    `refill:<patient>:<drug>:<runs out>`), for the patient's health manager to remind the
    patient (and the family account that manages them). Medical purpose: the task names the
    drug, which operations staff may not see."""
    import datetime as dt

    from careops.care.health import refills_due
    from careops.service import now
    from careops.tasks.store import NewTask, raise_tasks

    ops.require("tasks.work")
    plans = plans or load_plans()
    with ops.warehouse(read_only=True) as con:
        due = refills_due(con, as_of, ops.settings, plans.refill_lead_days)
    at = now()
    items = [
        NewTask(
            key=f"refill:{r.user_id}:{r.drug_code or r.drug_name}:{r.runs_out.isoformat()}"[:200],
            kind="refill_reminder",
            title=f"续方提醒: 还剩 {r.days_left} 天 / refill reminder: {r.days_left} days left",
            purpose="medical",
            assignee_role="health_manager",
            due_at=at + dt.timedelta(hours=due_hours),
            source="health.refills",
            user_id=r.user_id,
            priority=1 if r.days_left <= 2 else 2,
            detail={
                "drug_code": r.drug_code,
                "drug_name": r.drug_name,
                "runs_out": r.runs_out.isoformat(),
                "days_left": r.days_left,
            },
        )
        for r in due
    ]
    with ops.state.begin() as conn:
        ids = raise_tasks(conn, items, at)
        ops.audit(
            "health.refills", "tasks", {"as_of": as_of.isoformat(), "tasks": len(ids)}, conn=conn
        )
    return ids
