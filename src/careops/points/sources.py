"""Earnings read from the warehouse's facts, and the doctors' peer comparison per department.

Patients earn for paid orders of the categories that name a patient rule (`checkup` 100,
`package` 200, `consultation` 20 — refunded, failed and cancelled orders earn nothing) and for
answering a survey (`survey`). Doctors earn for each consultation they answered (`answer`: a
first reply recorded), for each rating ≥ `good_rating_min` (`good_rating`) and for each
article they wrote (`article`: a `catalogue` row of kind content with `author_doctor_id`, at its
`published_at`). Articles the catalogue does not attribute can still be credited one by one
(`careops points earn --doctor … --rule article --source article:ID`).

Every earning's key is its fact's id (`order:<order_id>`, `answer:<consultation_id>` …), so a
sync can run every day over the whole history and credits each fact once.
"""

from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa

from careops.asof import AsOf
from careops.points.service import earn_many
from careops.points.store import NewEarning, points_ledger, utc
from careops.service import Ops

ORDER_RULES = ("checkup", "package", "consultation")


@dataclass(frozen=True)
class SyncResult:
    """What a warehouse sync credited: entries seen and new, per holder kind."""

    as_of: date
    seen: dict[str, int]
    new: dict[str, int]


def _rows(expr) -> list[dict]:
    return expr.to_pyarrow().to_pylist()


def warehouse_earnings(ops: Ops, con, as_of: date, since: date | None = None) -> list[NewEarning]:
    """Every earning the warehouse's facts in [since, as_of) (hospital midnights) entitle to."""
    p = ops.settings.points
    f = AsOf(con, as_of, ops.settings)
    out: list[NewEarning] = []
    cats = [c for c in ORDER_RULES if p.patient_rules.get(c)]
    if cats:
        o = f.facts("orders", "ts", since)
        o = o.filter((o.status == "paid") & o.category.isin(cats))
        for r in _rows(o.select("order_id", "user_id", "ts", "category")):
            out.append(
                NewEarning(
                    key=f"patient:{r['category']}:order:{r['order_id']}",
                    holder_kind="patient",
                    holder_id=r["user_id"],
                    rule=r["category"],
                    points=p.patient_rules[r["category"]],
                    at=utc(r["ts"]),
                )
            )
    if p.patient_rules.get("survey"):
        s = f.facts("surveys", "ts", since)
        for r in _rows(s.select("response_id", "user_id", "ts")):
            out.append(
                NewEarning(
                    key=f"patient:survey:survey:{r['response_id']}",
                    holder_kind="patient",
                    holder_id=r["user_id"],
                    rule="survey",
                    points=p.patient_rules["survey"],
                    at=utc(r["ts"]),
                )
            )
    c = f.facts("consultations", "started_at", since)
    c = c.filter(c.doctor_id.notnull())
    answer, good = p.doctor_rules.get("answer", 0), p.doctor_rules.get("good_rating", 0)
    cols = c.select("consultation_id", "doctor_id", "started_at", "first_reply_s", "rating")
    for r in _rows(cols.filter(cols.first_reply_s.notnull() | cols.rating.notnull())):
        at = utc(r["started_at"])
        if answer and r["first_reply_s"] is not None:
            at_reply = at + dt.timedelta(seconds=float(r["first_reply_s"]))
            out.append(
                NewEarning(
                    key=f"doctor:answer:consultation:{r['consultation_id']}",
                    holder_kind="doctor",
                    holder_id=r["doctor_id"],
                    rule="answer",
                    points=answer,
                    at=at_reply,
                )
            )
        if good and r["rating"] is not None and r["rating"] >= p.good_rating_min:
            out.append(
                NewEarning(
                    key=f"doctor:good_rating:consultation:{r['consultation_id']}",
                    holder_kind="doctor",
                    holder_id=r["doctor_id"],
                    rule="good_rating",
                    points=good,
                    at=at,
                )
            )
    article = p.doctor_rules.get("article", 0)
    if article:
        out += _article_earnings(f, since, article)
    return out


def _article_earnings(f: AsOf, since: date | None, points: int) -> list[NewEarning]:
    """One `article` earning per content item with an author, at its publication (catalogue
    rows of kind content with `author_doctor_id` and `published_at` in [since, as_of))."""
    cat = f.con.table("catalogue")
    if not {"author_doctor_id", "published_at"} <= set(cat.columns):
        return []  # a warehouse from before authorship was recorded
    c = cat.filter(
        (cat.kind == "content") & cat.author_doctor_id.notnull() & cat.published_at.notnull()
    )
    c = c.filter(c.published_at < f.cutoff)
    if since is not None:
        c = c.filter(c.published_at >= f.utc(since))
    return [
        NewEarning(
            key=f"doctor:article:content:{r['item_id']}",
            holder_kind="doctor",
            holder_id=r["author_doctor_id"],
            rule="article",
            points=points,
            at=utc(r["published_at"]),
        )
        for r in _rows(c.select("item_id", "author_doctor_id", "published_at"))
    ]


def sync(ops: Ops, as_of: date, since: date | None = None) -> SyncResult:
    """Credit every earning the warehouse's facts in [since, as_of) entitle to (idempotent:
    a day synced twice credits nothing twice)."""
    ops.require("growth.write")
    with ops.warehouse(read_only=True) as con:
        items = warehouse_earnings(ops, con, as_of, since)
    seen: dict[str, int] = {"patient": 0, "doctor": 0}
    new: dict[str, int] = {}
    for kind in seen:
        mine = [i for i in items if i.holder_kind == kind]
        seen[kind] = len(mine)
        new[kind] = earn_many(ops, mine, source=f"warehouse:{kind}:{as_of}")
    return SyncResult(as_of, seen, new)


@dataclass(frozen=True)
class DoctorRow:
    """One doctor's points in the period and where that stands among the department's."""

    doctor_id: str
    name: str | None
    department: str | None
    title: str | None
    points: int
    by_rule: dict[str, int]
    rank: int  # 1 = most points in the department
    peers: int  # doctors in the department
    dept_median: float
    vs_median: float | None  # points / department median
    percentile: float  # share of the department's doctors with fewer points, 0–100
    level: str


def doctor_report(
    ops: Ops, start: dt.datetime, end: dt.datetime, department: str | None = None
) -> list[DoctorRow]:
    """Each doctor's points earned in [start, end) by rule, ranked within the department
    (every doctor of the warehouse counts, with 0 if they earned nothing), with the
    department's median and the doctor's percentile; level from the same window's points."""
    from careops.points.service import level_of

    ops.require("growth.read")
    with ops.warehouse(read_only=True) as con:
        d = con.table("doctors")
        if department is not None:
            d = d.filter(d.department == department)
        docs = _rows(d.select("doctor_id", "name", "department", "title"))
    led = points_ledger.c
    q = (
        sa.select(led.holder_id, led.rule, sa.func.sum(led.points))
        .where(led.holder_kind == "doctor", led.entry == "earn", led.at >= start, led.at < end)
        .group_by(led.holder_id, led.rule)
    )
    earned: dict[str, dict[str, int]] = {}
    with ops.state.connect() as conn:
        for h, rule, pts in conn.execute(q):
            earned.setdefault(h, {})[rule] = int(pts)
    by_dept: dict[str | None, list[dict]] = {}
    for doc in docs:
        by_dept.setdefault(doc["department"], []).append(doc)
    rows: list[DoctorRow] = []
    for dept in sorted(by_dept, key=lambda x: (x is None, x or "")):
        members = by_dept[dept]
        pts = {m["doctor_id"]: sum(earned.get(m["doctor_id"], {}).values()) for m in members}
        values = sorted(pts.values())
        median = float(statistics.median(values))
        order = sorted(members, key=lambda m: (-pts[m["doctor_id"]], m["doctor_id"]))
        for m in order:
            mine = pts[m["doctor_id"]]
            rows.append(
                DoctorRow(
                    doctor_id=m["doctor_id"],
                    name=m["name"],
                    department=dept,
                    title=m["title"],
                    points=mine,
                    by_rule=dict(sorted(earned.get(m["doctor_id"], {}).items())),
                    rank=1 + sum(v > mine for v in values),
                    peers=len(members),
                    dept_median=median,
                    vs_median=(mine / median) if median else None,
                    percentile=100.0 * sum(v < mine for v in values) / len(values),
                    level=level_of(ops, "doctor", mine).code,
                )
            )
    return rows
