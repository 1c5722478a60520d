"""Abnormal-reading alerts (异常读数预警): rules as data, evaluated on readings as they arrive,
each firing raising one task for the doctor or health manager (`careops.tasks.store`).

A rule fires when any of its conditions holds on a reading (canonical units: mmHg, mmol/L).
A rule with `days: N` > 1 fires when its condition held on at least one reading on each of N
consecutive hospital days; the days on which it held are kept in the state store
(`care_alert_days`), so a run is found whichever door, load or order its readings came by.
The task key is `alert:<rule>:<patient>:<hospital day>` — one task per rule, patient and day:
a reading loaded again, or sent by both doors, raises nothing twice. Tasks are medical, due
`due_minutes` after the reading arrived, night or day (no quiet hours for clinical safety).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import sqlalchemy as sa
from pydantic import Field, model_validator
from sqlalchemy.engine import Connection

from careops.care.datafile import Strict, load
from careops.schema import OBSERVATION_UNITS
from careops.state.models import metadata
from careops.tasks.store import NewTask, raise_tasks

Op = Literal[">", ">=", "<", "<="]
WHAT = ("预警规则", "alert rules")
RULE_ID = re.compile(r"[a-z][a-z0-9_]{0,39}")
READING_EVENT = "device_reading"  # the event intake's name for a home-device reading
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
_OPS = {
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
}

care_alert_days = sa.Table(
    "care_alert_days",
    metadata,
    sa.Column("user_id", sa.String(128), primary_key=True),
    sa.Column("rule", sa.String(40), primary_key=True),
    sa.Column("day", sa.Date, primary_key=True),
    sa.Column("first_value", sa.Float, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)


class Condition(Strict):
    """`value op threshold` on a reading whose LOINC code is among `codes`."""

    codes: list[str] = Field(min_length=1, max_length=20)
    op: Op
    value: float = Field(allow_inf_nan=False)

    def holds(self, code: str, value: float) -> bool:
        return code in self.codes and _OPS[self.op](value, self.value)


class Rule(Strict):
    """One alert rule and the task it raises."""

    title: str = Field(min_length=1, max_length=120)
    title_en: str = Field(min_length=1, max_length=160)
    when: list[Condition] = Field(min_length=1, max_length=10)
    days: int = Field(1, ge=1, le=14)
    assignee_role: Literal["medical", "health_manager"]
    department: str | None = Field(None, min_length=1, max_length=64)
    due_minutes: int = Field(60, ge=1, le=1440)
    priority: int = Field(0, ge=0, le=2)

    def holds(self, code: str, value: float) -> bool:
        return any(c.holds(code, value) for c in self.when)

    @property
    def codes(self) -> set[str]:
        return {k for c in self.when for k in c.codes}


class RuleSet(Strict):
    rules: dict[str, Rule] = Field(min_length=1, max_length=200)

    @model_validator(mode="after")
    def _ids(self) -> RuleSet:
        for k in self.rules:
            if not RULE_ID.fullmatch(k):
                raise ValueError(f"rules.{k[:40]}: 规则名须为小写字母数字下划线 / bad rule id")
        return self

    @property
    def codes(self) -> set[str]:
        return {k for r in self.rules.values() for k in r.codes}


def load_rules(path: Path | str | None = None) -> RuleSet:
    """A hospital's rule file, or the shipped `data/alert_rules.yaml` (cached)."""
    return _shipped() if path is None else load(RuleSet, path, "alert_rules.yaml", WHAT)


def rules_for(settings: Any) -> RuleSet:
    """The rules in force: the file named by the setting `health.alert_rules`, else the
    shipped ones. A file is read again when it changes (its size or modification time), so a
    hospital's edit applies without a restart; a bad file is a `ConfigError` naming the file,
    the line, the field and the reason (and the last good rules are not used silently)."""
    path = settings.health.alert_rules
    if not path:
        return _shipped()
    p = Path(path)
    try:
        st = p.stat()
    except OSError:
        return load_rules(p)  # the ConfigError naming the missing file
    return _from_file(str(p.resolve()), st.st_mtime_ns, st.st_size)


@lru_cache(maxsize=8)
def _from_file(path: str, mtime_ns: int, size: int) -> RuleSet:
    return load_rules(path)


@lru_cache(maxsize=1)
def _shipped() -> RuleSet:
    return load(RuleSet, None, "alert_rules.yaml", WHAT)


@dataclass(frozen=True)
class Reading:
    """One reading in canonical units; `ref` names where it came from (an observation or an
    event id)."""

    user_id: str
    ts: dt.datetime
    code: str
    value: float
    ref: str


@dataclass(frozen=True)
class Firing:
    """A rule that fired for a patient on a hospital day, the reading that made it, the task."""

    rule: str
    user_id: str
    day: dt.date
    reading: Reading
    task_id: int


def readings_from_observations(table: pa.Table, codes: Iterable[str]) -> list[Reading]:
    """Readings of `codes` from canonical `observations` rows (already in canonical units)."""
    wanted = set(codes)
    out = []
    for r in table.select(["observation_id", "user_id", "ts", "code", "value"]).to_pylist():
        ok = r["code"] in wanted and r["value"] is not None and r["ts"] is not None
        if ok and math.isfinite(r["value"]):
            out.append(
                Reading(r["user_id"], _aware(r["ts"]), r["code"], r["value"], r["observation_id"])
            )
    return out


def readings_from_events(table: pa.Table, codes: Iterable[str]) -> list[Reading]:
    """Readings carried by `device_reading` events: properties `{"code", "value", "unit"?}` or
    a BP panel `{"systolic", "diastolic", "unit"?}`; a value in another accepted unit (mg/dL)
    is converted; anything unusable is skipped (the event itself is stored as sent)."""
    wanted = set(codes)
    out: list[Reading] = []
    rows = table.select(["event_id", "user_id", "ts", "name", "properties"]).to_pylist()
    for r in rows:
        if r["name"] != READING_EVENT or not r["properties"]:
            continue
        try:
            p = json.loads(r["properties"])
        except ValueError:
            continue
        if not isinstance(p, dict):
            continue
        pairs = [(p.get("code"), p.get("value"))]
        if "systolic" in p or "diastolic" in p:
            pairs = [(SYSTOLIC, p.get("systolic")), (DIASTOLIC, p.get("diastolic"))]
        for code, value in pairs:
            v = _canonical(code, value, p.get("unit"))
            if v is not None and code in wanted:
                out.append(Reading(r["user_id"], _aware(r["ts"]), code, v, r["event_id"]))
    return out


def _canonical(code: Any, value: Any, unit: Any) -> float | None:
    if not isinstance(code, str) or isinstance(value, bool) or not isinstance(value, int | float):
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    spec = OBSERVATION_UNITS.get(code)
    if spec is None or unit is None:
        return value
    factor, offset = spec[1].get(str(unit), (None, None))
    if factor is None:
        return None  # an unknown unit: not guessed
    return value * factor + offset


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def evaluate(
    conn: Connection,
    readings: Sequence[Reading],
    rules: RuleSet,
    *,
    now: dt.datetime,
    tz: dt.tzinfo,
    source: str,
) -> list[Firing]:
    """Apply `rules` to `readings` in the state-store transaction `conn`: record the days a
    multi-day rule's condition held, find the runs, raise one task per firing (idempotent by
    key). Returns every firing, new or raised before."""
    hits: dict[tuple[str, str, dt.date], Reading] = {}
    for rd in sorted(readings, key=lambda x: (x.ts, x.ref, x.code)):
        for rid, rule in rules.rules.items():
            if rule.holds(rd.code, rd.value):
                hits.setdefault((rid, rd.user_id, rd.ts.astimezone(tz).date()), rd)
    fire: dict[tuple[str, str, dt.date], Reading] = {}
    multi = {k: v for k, v in hits.items() if rules.rules[k[0]].days > 1}
    for k, v in hits.items():
        if rules.rules[k[0]].days == 1:
            fire[k] = v
    if multi:
        _remember(conn, multi, now)
        for (rid, uid, day), rd in multi.items():
            n = rules.rules[rid].days
            have = _days(
                conn, uid, rid, day - dt.timedelta(days=n - 1), day + dt.timedelta(days=n - 1)
            )
            for end in (day + dt.timedelta(days=i) for i in range(n)):
                if all(end - dt.timedelta(days=j) in have for j in range(n)):
                    fire.setdefault((rid, uid, end), rd)
    items = [
        (k, rd, _task(k, rd, rules.rules[k[0]], now, source))
        for k, rd in sorted(fire.items(), key=lambda x: x[0])
    ]
    ids = raise_tasks(conn, [t for _, _, t in items], now)
    return [Firing(k[0], k[1], k[2], rd, i) for (k, rd, _), i in zip(items, ids, strict=True)]


def _task(
    key: tuple[str, str, dt.date], rd: Reading, rule: Rule, now: dt.datetime, source: str
) -> NewTask:
    rid, uid, day = key
    return NewTask(
        key=f"alert:{rid}:{uid}:{day.isoformat()}",
        kind="alert",
        title=f"{rule.title} / {rule.title_en}"[:200],
        purpose="medical",
        assignee_role=rule.assignee_role,
        department=rule.department,
        due_at=now + dt.timedelta(minutes=rule.due_minutes),
        source=source,
        user_id=uid,
        priority=rule.priority,
        detail={
            "rule": rid,
            "day": day.isoformat(),
            "code": rd.code,
            "value": rd.value,
            "reading_at": rd.ts.isoformat(),
            "reading": rd.ref,
            "days": rule.days,
        },
    )


def _remember(
    conn: Connection, hits: dict[tuple[str, str, dt.date], Reading], now: dt.datetime
) -> None:
    if conn.dialect.name == "postgresql":
        # one transaction at a time per patient and rule: a second one waits for the first's
        # commit, then sees its days (READ COMMITTED), so a run split across two concurrent
        # loads is still found; keys taken in one order (no deadlock)
        for rid, uid in sorted({(k[0], k[1]) for k in hits}):
            conn.execute(
                sa.text("SELECT pg_advisory_xact_lock(hashtextextended(:k, 0))"),
                {"k": f"care_alert:{rid}:{uid}"},
            )
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    rows = [
        {"user_id": uid, "rule": rid, "day": day, "first_value": rd.value, "created_at": now}
        for (rid, uid, day), rd in hits.items()
    ]
    stmt = insert(care_alert_days).on_conflict_do_nothing(index_elements=["user_id", "rule", "day"])
    for i in range(0, len(rows), 5000):
        conn.execute(stmt, rows[i : i + 5000])


def _days(conn: Connection, uid: str, rid: str, first: dt.date, last: dt.date) -> set[dt.date]:
    c = care_alert_days.c
    q = sa.select(c.day).where(c.user_id == uid, c.rule == rid, c.day >= first, c.day <= last)
    return {r.day for r in conn.execute(q)}
