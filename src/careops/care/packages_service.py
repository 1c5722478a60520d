"""Service packages as a service: the functions the CLI and the API call (`careops packages
…`). Each opens the warehouse read-only, checks the caller's permission (a patient's usage
also their scope, and is audited with the patient as subject) and returns plain results."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from careops.care import packages as P
from careops.care.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from careops.service import Ops


def catalogue(path: Path | str | None = None) -> Catalogue:
    """The package catalogue (the shipped one, or a hospital's file)."""
    return load_catalogue(path)


def patient_usage(
    ops: Ops, user_id: str, as_of: date, cat: Catalogue | None = None
) -> list[P.EnrollmentUsage]:
    """A patient's enrolments with each entitlement used and left; scoped and audited."""
    from careops.privacy.access import check_patient_access

    cat = cat or load_catalogue()
    with ops.warehouse(read_only=True) as con:
        access = check_patient_access(ops, user_id, "patients.portrait", con=con)
        result = P.usage(con, cat, user_id, as_of, ops.settings)
    ops.audit(
        "packages.usage",
        user_id,
        {"as_of": as_of.isoformat(), "enrollments": len(result), "scope": access.scope},
        subject=user_id,
    )
    return result


def activation(
    ops: Ops, as_of: date, *, behind_only: bool = True, package_id: str | None = None
) -> list[P.ActivationRow]:
    """Enrolments in their 90-day window short of the activation goal (patient ids: needs the
    patient portrait permission; audited as a list of patients)."""
    ops.require("patients.portrait")
    if package_id is not None:
        load_catalogue().package(package_id)
    with ops.warehouse(read_only=True) as con:
        rows = P.activation(
            con, as_of, ops.settings, behind_only=behind_only, package_id=package_id
        )
    ops.audit(
        "packages.activation",
        "enrollments",
        {"as_of": as_of.isoformat(), "rows": len(rows), "package": package_id},
    )
    return rows


def renewal(ops: Ops, as_of: date) -> P.RenewalReport:
    """Renewal by activation (aggregate: the metrics permission)."""
    ops.require("metrics.read")
    with ops.warehouse(read_only=True) as con:
        return P.renewal(con, as_of, ops.settings)


def sla(
    ops: Ops, as_of: date, *, days: int = 90, limit: int = 50, cat: Catalogue | None = None
) -> P.SlaReport:
    """Delivery SLAs per package with the worst breaches (consultation and patient ids)."""
    ops.require("metrics.read")
    ops.require("patients.portrait")
    with ops.warehouse(read_only=True) as con:
        report = P.sla(con, cat or load_catalogue(), as_of, ops.settings, days=days, limit=limit)
    ops.audit(
        "packages.sla",
        "consultations",
        {"as_of": as_of.isoformat(), "breaches": len(report.breaches)},
    )
    return report


def outcomes(ops: Ops, as_of: date, cat: Catalogue | None = None) -> list[P.OutcomeRow]:
    """Control rates before vs after enrolment per package (aggregate)."""
    ops.require("metrics.read")
    with ops.warehouse(read_only=True) as con:
        return P.outcomes(con, cat or load_catalogue(), as_of, ops.settings)
