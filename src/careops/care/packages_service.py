"""Service packages as a service: the functions the CLI and the API call (`careops packages
…`). Each opens the warehouse read-only, checks the caller's permission (a patient's usage
also their scope, and is audited with the patient as subject) and returns plain results."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from careops.care import packages as P
from careops.care.catalogue import Catalogue, load_catalogue

if TYPE_CHECKING:
    from careops.service import Ops

KEY = re.compile(r"[\w.:/@+-]{1,100}")


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
    """Delivery SLAs per package with the worst breaches (consultation and patient ids). A
    caller who may not see patient ids one by one (an analyst) gets the rates and the number
    of breaches, not the list."""
    from careops.privacy.access import sees_patient_ids

    ops.require("metrics.read")
    with ops.warehouse(read_only=True) as con:
        report = P.sla(con, cat or load_catalogue(), as_of, ops.settings, days=days, limit=limit)
    if not sees_patient_ids(ops.actor, "patients.portrait"):
        report = P.SlaReport(report.rows, [], report.total_breaches)
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


def renewal_ladder(
    ops: Ops,
    as_of: date,
    *,
    days: int = 90,
    journey: str = "renewal_ladder",
    cat: Catalogue | None = None,
) -> list:
    """The renewal ladder per package (`care.ladder.ladder`), aggregate: the metrics
    permission. A renewal contact is a message or task of `journey` sent to the patient (the
    state store's journey outbox)."""
    from careops.care.ladder import ladder

    ops.require("metrics.read")
    contacts = renewal_contacts(ops, journey)
    with ops.warehouse(read_only=True) as con:
        return ladder(
            con, as_of, ops.settings, cat or load_catalogue(), days=days, contacts=contacts
        )


def renewal_contacts(ops: Ops, journey: str = "renewal_ladder"):
    """(user_id, ts) of every sent message or task of `journey`, from the journey outbox."""
    import pyarrow as pa
    import sqlalchemy as sa

    from careops.care.ladder import CONTACTS_SCHEMA
    from careops.errors import InvalidInput
    from careops.journeys import store

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", journey or ""):
        raise InvalidInput(
            f"旅程键无效 / invalid journey key {str(journey)[:64]!r}", field="journey"
        )
    o = store.outbox
    q = sa.select(o.c.user_id, o.c.sent_at).where(
        o.c.journey == journey, o.c.status == "sent", o.c.kind.in_(["message", "task"])
    )
    with ops.state.connect() as conn:
        rows = conn.execute(q).all()
    return pa.table(
        {
            "user_id": pa.array([r.user_id for r in rows], pa.string()),
            "ts": pa.array([store.utc(r.sent_at) for r in rows], CONTACTS_SCHEMA.field("ts").type),
        }
    )


@dataclass(frozen=True)
class Enrolment:
    """An enrolment written (or found, when its key was used before) with its payment order."""

    enrollment_id: str
    order_id: str
    user_id: str
    package_id: str
    start_at: dt.datetime
    end_at: dt.datetime
    price_cny: float
    created: bool


def enroll(
    ops: Ops,
    user_id: str,
    package_id: str,
    *,
    key: str | None = None,
    launch_price: bool = False,
    renewal_of: str | None = None,
    at: dt.datetime | None = None,
    cat: Catalogue | None = None,
) -> Enrolment:
    """Enrol a patient in a package and record its payment (an `orders` row, category
    package, paid) in one warehouse load. `key` (e.g. the payment's order number) makes it
    idempotent: the same key again returns the first enrolment and writes nothing. Refused
    with nothing written: an unknown patient or package, a renewal of another patient's or
    package's enrolment, an enrolment in force for the same package (unless renewing it)."""
    import hashlib
    import uuid

    import pyarrow as pa

    from careops.errors import Conflict, InvalidInput, NotFound
    from careops.ingest.service import writable_warehouse
    from careops.privacy.access import check_user_id
    from careops.schema import TABLES
    from careops.service import now
    from careops.warehouse import create_tables
    from careops.warehouse.load import Batch, TablePart, apply_batch

    ops.require("ingest.write")
    check_user_id(user_id)
    if renewal_of is not None and not KEY.fullmatch(renewal_of):
        raise InvalidInput(
            f"renewal_of 不合法 / bad renewal_of {renewal_of[:64]!r}", field="renewal_of"
        )
    cat = cat or load_catalogue()
    pkg = cat.package(package_id)
    if key is not None and not KEY.fullmatch(key):
        raise InvalidInput(f"key 不合法 / bad key {key[:80]!r}", field="key")
    at = at or now()
    if at.tzinfo is None:
        raise InvalidInput("时间须带时区 / the time must be timezone-aware", field="at")
    key = key or uuid.uuid4().hex
    digest = hashlib.sha256(f"{user_id}\x00{key}".encode()).hexdigest()[:16]
    eid, oid = f"EN-{digest}", f"OR-{digest}"
    start = at.astimezone(dt.UTC)
    end = start + dt.timedelta(days=pkg.validity_days)
    price = float(pkg.launch_price_cny if launch_price and pkg.launch_price_cny else pkg.price_cny)
    with writable_warehouse(ops) as con:
        create_tables(con)
        p = con.table("patients")
        if not p.filter(p.user_id == user_id).count().to_pyarrow().as_py():
            raise NotFound(f"没有该患者 / no patient {user_id[:64]!r}", field="user_id")
        e = con.table("enrollments")
        same = e.filter(e.enrollment_id == eid).to_pyarrow().to_pylist()
        if same:
            r = same[0]
            return Enrolment(
                eid,
                oid,
                r["user_id"],
                r["package_id"],
                r["start_at"],
                r["end_at"],
                r["price_cny"],
                False,
            )
        if renewal_of is not None:
            prev = e.filter(e.enrollment_id == renewal_of).to_pyarrow().to_pylist()
            if not prev or prev[0]["user_id"] != user_id or prev[0]["package_id"] != package_id:
                raise InvalidInput(
                    f"续约对象 {renewal_of[:64]!r} 不是该患者该服务包的签约 / renewal_of is not "
                    "an enrolment of this patient in this package",
                    field="renewal_of",
                )
        live = e.filter(
            (e.user_id == user_id)
            & (e.package_id == package_id)
            & (e.start_at <= start)
            & (e.end_at > start)
            & ~e.status.isin(["cancelled", "refunded"]).fill_null(False)
        )
        if renewal_of is not None:
            live = live.filter(live.enrollment_id != renewal_of)
        if live.count().to_pyarrow().as_py():
            raise Conflict(
                f"{user_id} 已有生效中的 {package_id} / already enrolled in {package_id}"
            )
        enr = pa.Table.from_pylist(
            [
                {
                    "enrollment_id": eid,
                    "user_id": user_id,
                    "package_id": package_id,
                    "start_at": start,
                    "end_at": end,
                    "price_cny": price,
                    "status": "active",
                    "renewal_of": renewal_of,
                }
            ],
            schema=TABLES["enrollments"].arrow_schema(),
        )
        order = pa.Table.from_pylist(
            [
                {
                    "order_id": oid,
                    "user_id": user_id,
                    "ts": start,
                    "category": "package",
                    "sku": package_id,
                    "amount_cny": price,
                    "status": "paid",
                }
            ],
            schema=TABLES["orders"].arrow_schema(),
        )
        batch = Batch(
            load_id=f"enroll-{digest}",
            source="careops:packages.enroll",
            content_hash=f"enroll:{eid}",
            started_at=now(),
            parts=[
                TablePart(table="enrollments", rows=enr, rows_in=1),
                TablePart(table="orders", rows=order, rows_in=1),
            ],
        )
        apply_batch(con, batch)
    ops.audit(
        "packages.enroll",
        user_id,
        {"enrollment_id": eid, "package": package_id, "price_cny": price, "renewal_of": renewal_of},
        subject=user_id,
    )
    return Enrolment(eid, oid, user_id, package_id, start, end, price, True)


def raise_activation_nudges(
    ops: Ops, as_of: date, *, package_id: str | None = None, due_hours: int = 48
) -> list[int]:
    """Feed the nudge: one health-manager task per enrolment behind its activation pace, once
    per enrolment and ISO week (key `nudge:activation:<enrolment>:<year>-W<week>`), service
    purpose, with how many uses are short and the days left; returns the task ids."""
    from careops.service import now
    from careops.tasks.store import NewTask, raise_tasks

    ops.require("tasks.work")
    rows = activation(ops, as_of, package_id=package_id)
    year, week, _ = as_of.isocalendar()
    at = now()
    items = [
        NewTask(
            key=f"nudge:activation:{r.enrollment_id}:{year}-W{week:02d}",
            kind="package_nudge",
            title=f"服务包激活提醒: 还差 {r.short} 次 / activation nudge: {r.short} uses short",
            purpose="service",
            assignee_role="health_manager",
            due_at=at + dt.timedelta(hours=due_hours),
            source="packages.activation",
            user_id=r.user_id,
            priority=1 if r.days_left < 30 else 2,
            detail={
                "enrollment_id": r.enrollment_id,
                "package_id": r.package_id,
                "uses": r.uses,
                "short": r.short,
                "behind_pace": r.behind_pace,
                "days_left": r.days_left,
            },
        )
        for r in rows
    ]
    with ops.state.begin() as conn:
        ids = raise_tasks(conn, items, at)
        ops.audit(
            "packages.nudges", "tasks", {"as_of": as_of.isoformat(), "tasks": len(ids)}, conn=conn
        )
    return ids
