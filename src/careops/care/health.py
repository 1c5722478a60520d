"""The personal health record (个人健康档案, SPEC §7) of one patient as of a day, assembled
from the canonical `patients`, `conditions`, `consultations`, `prescriptions` and
`observations`: conditions, recent consultations, the medication schedule with refill
reminders from `days_supply`, the latest readings and their control, a plan per condition
(`data/health_plans.yaml`) with targets and adherence, the next follow-up (controlled → 3
months; not → 4 weeks; far from control → 2 weeks) and the family account (`managed_by`) with
who is told what.

Decisions: a drug's supply runs from the hospital day of its latest prescription for
`days_supply` days (a refill is due `refill_lead_days` before the end, lapsed after it);
adherence is PDC over the target's window (overlapping supplies not double counted, as the
`adherence_rate` metric); a BP reading is a systolic and a diastolic at the same instant;
the follow-up is due the chosen interval after the latest consultation (or today if none).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import ibis
from ibis.backends import BaseBackend
from pydantic import Field

from careops.asof import AsOf
from careops.care.alerts import Condition
from careops.care.datafile import Strict, load
from careops.config import Settings
from careops.errors import NotFound

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
GLUCOSE_CODES = ("2339-0", "2345-7", "15074-8", "14749-6")
WHAT = ("健康管理计划", "health plans")


class Target(Strict):
    id: str = Field(min_length=1, max_length=40)
    kind: Literal["control", "readings", "medication", "self_report"]
    text: str = Field(min_length=1, max_length=120)
    text_en: str = Field(min_length=1, max_length=160)
    codes: list[str] = Field(default_factory=list)
    per_week: float | None = Field(None, gt=0, le=100)
    window_days: int = Field(28, ge=7, le=365)
    min_pdc: float | None = Field(None, gt=0, le=1)


class Template(Strict):
    name: str = Field(min_length=1, max_length=60)
    name_en: str = Field(min_length=1, max_length=80)
    measure: Literal["bp", "glucose"]
    severe: list[Condition] = Field(default_factory=list)
    targets: list[Target] = Field(min_length=1)


class FollowUp(Strict):
    controlled_days: int = Field(ge=1, le=730)
    uncontrolled_days: int = Field(ge=1, le=730)
    severe_days: int = Field(ge=1, le=730)


class Plans(Strict):
    follow_up: FollowUp
    refill_lead_days: int = Field(ge=0, le=60)
    templates: dict[str, Template] = Field(min_length=1)

    def for_code(self, code: str) -> tuple[str, Template] | None:
        """The template whose ICD-10 code `code` starts with (longest first)."""
        for k in sorted(self.templates, key=len, reverse=True):
            if code.upper().startswith(k.upper()):
                return k, self.templates[k]
        return None


def load_plans(path: Path | str | None = None) -> Plans:
    """A hospital's plan templates, or the shipped ones (cached)."""
    return _shipped() if path is None else load(Plans, path, "health_plans.yaml", WHAT)


@lru_cache(maxsize=1)
def _shipped() -> Plans:
    return load(Plans, None, "health_plans.yaml", WHAT)


@dataclass(frozen=True)
class Medication:
    """A drug's latest supply: from the day prescribed for `days_supply` days."""

    drug_code: str | None
    drug_name: str | None
    prescribed_on: dt.date
    days_supply: int
    runs_out: dt.date  # the first day without supply
    days_left: int
    status: Literal["ok", "refill_due", "lapsed"]


@dataclass(frozen=True)
class TargetStatus:
    id: str
    kind: str
    text: str
    text_en: str
    met: bool | None  # None: not measurable from the data
    value: float | None = None  # observed: readings per week, PDC, or 1/0 for control
    goal: float | None = None


@dataclass(frozen=True)
class Plan:
    condition: str
    name: str
    name_en: str
    measure: str
    controlled: bool | None
    severe: bool
    targets: list[TargetStatus]
    adherence: float | None  # share of measurable targets met


@dataclass(frozen=True)
class HealthRecord:
    user_id: str
    as_of: dt.date
    profile: dict[str, Any]
    conditions: list[dict[str, Any]]
    consultations: list[dict[str, Any]]
    medications: list[Medication]
    latest: dict[str, Any]
    plans: list[Plan]
    follow_up: dict[str, Any] | None
    family: dict[str, Any]
    notify: list[dict[str, Any]] = field(default_factory=list)


def _rows(t: ibis.Table) -> list[dict[str, Any]]:
    return t.to_pyarrow().to_pylist()


def _pdc(supplies: list[tuple[dt.date, int]], start: dt.date, end: dt.date) -> float | None:
    """Share of days in [first covered day ≥ start, end) covered by any supply."""
    covered: set[dt.date] = set()
    for day, n in supplies:
        for i in range(max(n, 0)):
            d = day + dt.timedelta(days=i)
            if start <= d < end:
                covered.add(d)
    if not covered:
        return None
    period = (end - min(covered)).days
    return len(covered) / period if period > 0 else None


def _age(birth: dt.date | None, on: dt.date) -> int | None:
    if birth is None:
        return None
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def health_record(
    con: BaseBackend, user_id: str, as_of: dt.date, settings: Settings, plans: Plans
) -> HealthRecord:
    """The record of `user_id` from the facts before `as_of` (hospital day)."""
    from careops.privacy.access import check_user_id

    check_user_id(user_id)
    ctx = AsOf(con, as_of, settings)
    tz = settings.tz
    p = con.table("patients")
    prof = _rows(p.filter(p.user_id == user_id))
    if not prof:
        raise NotFound(f"没有该患者 / no patient {user_id[:64]!r}", field="user_id")
    me = prof[0]
    managed = _rows(p.filter(p.managed_by == user_id).select("user_id").order_by("user_id"))
    local = lambda t: t.astimezone(tz).date()  # noqa: E731

    c = con.table("conditions")
    conds = _rows(
        c.filter(c.user_id == user_id)
        .select("code", "display", "system", "onset_at", "status")
        .order_by("code")
    )
    conds = [x for x in conds if x["onset_at"] is None or x["onset_at"] < ctx.cutoff]
    cs = ctx.facts("consultations", "started_at")
    consults = _rows(
        cs.filter(cs.user_id == user_id)
        .select(
            "consultation_id", "started_at", "department", "doctor_id", "diagnosis_code", "mode"
        )
        .order_by(ibis.desc("started_at"))
        .limit(10)
    )
    rx = ctx.facts("prescriptions", "ts")
    rxs = _rows(
        rx.filter(rx.user_id == user_id).select("ts", "drug_code", "drug_name", "days_supply")
    )
    o = ctx.facts("observations", "ts", ctx.days_before(365))
    o = o.filter((o.user_id == user_id) & o.code.isin([SYSTOLIC, DIASTOLIC, *GLUCOSE_CODES]))
    obs = _rows(o.select("ts", "code", "value"))

    # medication schedule and refills: the latest prescription of each drug
    latest_rx: dict[str, dict] = {}
    for r in sorted(rxs, key=lambda r: r["ts"]):
        latest_rx[r["drug_code"] or r["drug_name"] or "?"] = r
    meds = []
    for r in latest_rx.values():
        n = int(r["days_supply"] or 0)
        start = local(r["ts"])
        out = start + dt.timedelta(days=n)
        left = (out - as_of).days
        if left < -90:
            continue  # long finished: history, not the current schedule
        status = (
            "lapsed" if left <= 0 else ("refill_due" if left <= plans.refill_lead_days else "ok")
        )
        meds.append(Medication(r["drug_code"], r["drug_name"], start, n, out, left, status))
    meds.sort(key=lambda m: (m.days_left, m.drug_code or ""))

    # latest readings: BP as a panel (same instant), glucose
    sbp = {r["ts"]: r["value"] for r in obs if r["code"] == SYSTOLIC}
    dbp = {r["ts"]: r["value"] for r in obs if r["code"] == DIASTOLIC}
    panels = sorted(t for t in sbp if t in dbp)
    glu = sorted((r["ts"], r["value"], r["code"]) for r in obs if r["code"] in GLUCOSE_CODES)
    h = settings.health
    latest: dict[str, Any] = {}
    if panels:
        t = panels[-1]
        latest["bp"] = {
            "ts": t,
            "systolic": sbp[t],
            "diastolic": dbp[t],
            "controlled": sbp[t] < h.bp_systolic_max and dbp[t] < h.bp_diastolic_max,
        }
    if glu:
        t, v, code = glu[-1]
        latest["glucose"] = {
            "ts": t,
            "code": code,
            "value": v,
            "controlled": v < settings.metrics.glucose_control_max_mmol,
        }

    # plans per condition
    out_plans: list[Plan] = []
    seen: set[str] = set()
    for cond in conds:
        if (cond["status"] or "active") not in ("active", "recurrence", "relapse"):
            continue
        hit = plans.for_code(cond["code"] or "")
        if hit is None or hit[0] in seen:
            continue
        key, tpl = hit
        seen.add(key)
        last = latest.get(tpl.measure)
        controlled = None if last is None else bool(last["controlled"])
        severe = False
        if last is not None:
            if tpl.measure == "bp":
                vals = [(SYSTOLIC, last["systolic"]), (DIASTOLIC, last["diastolic"])]
            else:
                vals = [(last["code"], last["value"])]
            severe = any(s.holds(code, v) for s in tpl.severe for code, v in vals)
        targets = []
        for tg in tpl.targets:
            if tg.kind == "control":
                targets.append(
                    TargetStatus(
                        tg.id,
                        tg.kind,
                        tg.text,
                        tg.text_en,
                        controlled,
                        None if controlled is None else float(controlled),
                        1.0,
                    )
                )
            elif tg.kind == "readings":
                since = ctx.cutoff - dt.timedelta(days=tg.window_days)
                instants = {r["ts"] for r in obs if r["code"] in tg.codes and r["ts"] >= since}
                per_week = len(instants) / (tg.window_days / 7)
                targets.append(
                    TargetStatus(
                        tg.id,
                        tg.kind,
                        tg.text,
                        tg.text_en,
                        per_week >= (tg.per_week or 0),
                        round(per_week, 2),
                        tg.per_week,
                    )
                )
            elif tg.kind == "medication":
                supplies = [(local(r["ts"]), int(r["days_supply"] or 0)) for r in rxs]
                v = _pdc(supplies, as_of - dt.timedelta(days=tg.window_days), as_of)
                targets.append(
                    TargetStatus(
                        tg.id,
                        tg.kind,
                        tg.text,
                        tg.text_en,
                        None if v is None else v >= (tg.min_pdc or 0),
                        None if v is None else round(v, 3),
                        tg.min_pdc,
                    )
                )
            else:
                targets.append(TargetStatus(tg.id, tg.kind, tg.text, tg.text_en, None))
        measured = [t.met for t in targets if t.met is not None]
        adherence = sum(measured) / len(measured) if measured else None
        out_plans.append(
            Plan(key, tpl.name, tpl.name_en, tpl.measure, controlled, severe, targets, adherence)
        )

    # follow-up: the strictest interval among the plans
    follow = None
    if out_plans:
        f = plans.follow_up
        if any(pl.severe for pl in out_plans):
            days, why = f.severe_days, "severe"
        elif any(pl.controlled is False for pl in out_plans):
            days, why = f.uncontrolled_days, "uncontrolled"
        elif all(pl.controlled for pl in out_plans):
            days, why = f.controlled_days, "controlled"
        else:
            days, why = f.uncontrolled_days, "no_reading"
        base = local(consults[0]["started_at"]) if consults else as_of
        due = base + dt.timedelta(days=days)
        follow = {
            "interval_days": days,
            "reason": why,
            "last_consultation": base if consults else None,
            "due": max(due, as_of) if not consults else due,
            "overdue": due < as_of,
        }

    family = {
        "managed_by": me.get("managed_by"),
        "manages": [r["user_id"] for r in managed],
    }
    reminders_to = [f"family:{me['managed_by']}"] if me.get("managed_by") else []
    notify = [
        {
            "to": "medical/health_manager",
            "what": ["abnormal_reading_alerts", "health_record", "plans"],
        },
        {
            "to": f"patient:{user_id}",
            "what": ["refill_reminders", "follow_up_reminders", "plan_targets"],
        },
        *([{"to": t, "what": ["refill_reminders", "follow_up_reminders"]} for t in reminders_to]),
    ]
    profile = {
        "sex": me.get("sex"),
        "birth_date": me.get("birth_date"),
        "age": _age(me.get("birth_date"), as_of),
        "registered_at": me.get("registered_at"),
        "city": me.get("city"),
    }
    return HealthRecord(
        user_id, as_of, profile, conds, consults, meds, latest, out_plans, follow, family, notify
    )


@dataclass(frozen=True)
class RefillDue:
    """A patient's drug whose latest supply runs out within the lead time (or ran out today)."""

    user_id: str
    drug_code: str | None
    drug_name: str | None
    runs_out: dt.date
    days_left: int


def refills_due(
    con: BaseBackend, as_of: dt.date, settings: Settings, lead_days: int
) -> list[RefillDue]:
    """Every patient's drugs whose latest prescription's supply runs out in [as_of,
    as_of + lead_days] — set-wise, one query (the record's per-patient rule, for everyone)."""
    ctx = AsOf(con, as_of, settings)
    today = ctx.day_number_lit(0)
    p = ctx.facts("prescriptions", "ts")
    p = p.filter(p.days_supply.notnull() & (p.days_supply > 0))
    p = p.mutate(
        drug=ibis.coalesce(p.drug_code, p.drug_name), out=ctx.day_number(p.ts) + p.days_supply
    )
    w = ibis.row_number().over(
        group_by=[p.user_id, p.drug], order_by=[ibis.desc(p.ts), ibis.desc(p.prescription_id)]
    )
    p = p.mutate(k=w)
    p = p.filter((p.k == 0) & (p.out >= today) & (p.out <= today + lead_days))
    p = p.order_by(["out", "user_id", "drug"])
    rows = p.select("user_id", "drug_code", "drug_name", "out").to_pyarrow().to_pylist()
    epoch = dt.date(1970, 1, 1)
    return [
        RefillDue(
            r["user_id"],
            r["drug_code"],
            r["drug_name"],
            epoch + dt.timedelta(days=int(r["out"])),
            int(r["out"]) - today,
        )
        for r in rows
    ]
