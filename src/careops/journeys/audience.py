"""Who a journey concerns at a moment, read set-wise from the warehouse: trigger entrants, rule
members, the events and consents that end waits and enrolments.

Rules are evaluated as of the hospital-local date of `now` (facts before today's 00:00, the one
as-of frame of CareOps) and cached per (rule, date) for one tick; events and consents are read
by their timestamps up to `now`, so a replay over history never sees its own future.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import ibis
import pyarrow as pa

from careops.journeys.definition import (
    DateTrigger,
    EventTrigger,
    Journey,
    LayerTrigger,
    ScheduleTrigger,
    SegmentTrigger,
)

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.config import Settings

#: events that count as a medical alert (exit kind `medical_alert`)
MEDICAL_ALERT_EVENTS = ("glucose_alert", "medical_alert", "bp_alert")


class Reader:
    """Set-wise reads of one warehouse for one engine tick (rule results cached per date)."""

    def __init__(
        self,
        con: BaseBackend,
        settings: Settings,
        saved_rules: dict[str, Any],
        cache: dict[tuple[str, dt.date], frozenset[str]] | None = None,
    ) -> None:
        self.con = con
        self.settings = settings
        self.saved = saved_rules
        # rule results per (rule, as-of date); a replay keeps them across ticks: what a tick
        # writes (answers to sends) is stamped at or after the tick, never before its date
        self._rules = cache if cache is not None else {}
        self._tables = set(con.list_tables())
        self._profiles: dict[dt.date, tuple[pa.Table, dict[str, int]]] = {}
        self._consents: pa.Table | None = None

    def profiles(self, day: dt.date, users: pa.Array, everyone: bool = False) -> pa.Table:
        """`inputs.read_profiles` of `users` as of `day`. With `everyone` (a tick with many
        batches ahead) every patient's profile is read once and each batch takes its rows from
        memory: one warehouse query per tick instead of one per batch."""
        from careops.journeys.inputs import read_profiles

        if not everyone and day not in self._profiles:
            return read_profiles(self.con, day, users)
        if day not in self._profiles:
            table = read_profiles(self.con, day)
            index = {u: i for i, u in enumerate(table["user_id"].to_pylist())}
            self._profiles[day] = (table, index)
        table, index = self._profiles[day]
        rows = [i for i in map(index.get, users.to_pylist()) if i is not None]
        return table.take(pa.array(rows, pa.int64()))

    def consents(self, users: pa.Array, everyone: bool = False) -> pa.Table:
        """`inputs.read_consents` of `users`; with `everyone`, read once per tick (as
        `profiles`)."""
        import pyarrow.compute as pc

        from careops.journeys.inputs import read_consents

        if not everyone and self._consents is None:
            return read_consents(self.con, users)
        if self._consents is None:
            self._consents = read_consents(self.con)
        return self._consents.filter(pc.is_in(self._consents["user_id"], value_set=users))

    def as_of(self, now: dt.datetime) -> dt.date:
        """The as-of date of a moment: its hospital-local date (facts before that day)."""
        return now.astimezone(self.settings.tz).date()

    def members(self, rule: Any, day: dt.date) -> frozenset[str]:
        """Patients matching a segment rule as of `day`."""
        from careops.segments.evaluate import members

        key = (json.dumps(rule, sort_keys=True, default=str), day)
        if key not in self._rules:
            if "patients" not in self._tables:
                self._rules[key] = frozenset()
            else:
                t = members(self.con, rule, day, settings=self.settings).select("user_id")
                self._rules[key] = frozenset(t.to_pyarrow()["user_id"].to_pylist())
        return self._rules[key]

    def events(
        self, names: Iterable[str], since: dt.datetime, now: dt.datetime, users: Iterable[str]
    ) -> dict[str, list[dt.datetime]]:
        """Per patient of `users`, the times of events named `names` in (since, now]."""
        users = list(dict.fromkeys(users))
        if not users or "events" not in self._tables:
            return {}
        ev = self.con.table("events")
        want = ibis.memtable(pa.table({"_uid": pa.array(users, pa.string())}))
        q = ev.filter(
            ev.name.isin(list(names)),
            ev.ts > _lit(since),
            ev.ts <= _lit(now),
        )
        q = q.semi_join(want, q.user_id == want._uid).select("user_id", "ts")
        out: dict[str, list[dt.datetime]] = {}
        for r in q.to_pyarrow().to_pylist():
            out.setdefault(r["user_id"], []).append(_aware(r["ts"]))
        return out

    def event_users(
        self, name: str, since: dt.datetime, now: dt.datetime
    ) -> dict[str, dt.datetime]:
        """Patients with an event `name` in (since, now], with the first such time. Two
        trigger events are also derived from the facts they stand for, so that journeys on
        them run on data that never logs them (the simulator, most hospitals): `register` at
        `patients.registered_at`, `glucose_alert` when a glucose reading above
        `health.glucose_alert_mmol` has come on `health.glucose_alert_days` local days running
        (`derived_events`)."""
        out: dict[str, dt.datetime] = {}
        if "events" in self._tables:
            ev = self.con.table("events")
            q = (
                ev.filter(ev.name == name, ev.ts > _lit(since), ev.ts <= _lit(now))
                .group_by("user_id")
                .aggregate(ts=ev.ts.min())
            )
            out = {r["user_id"]: _aware(r["ts"]) for r in q.to_pyarrow().to_pylist()}
        for user, t in self.derived_events(name, since, now).items():
            if user not in out or t < out[user]:
                out[user] = t
        return out

    def derived_events(
        self, name: str, since: dt.datetime, now: dt.datetime
    ) -> dict[str, dt.datetime]:
        """The `register` / `glucose_alert` moments in (since, now] read from the facts
        (see `event_users`); {} for any other name."""
        if name == "register" and "patients" in self._tables:
            p = self.con.table("patients")
            q = p.filter(p.registered_at > _lit(since), p.registered_at <= _lit(now))
            rows = q.select("user_id", "registered_at").to_pyarrow().to_pylist()
            return {r["user_id"]: _aware(r["registered_at"]) for r in rows}
        if name == "glucose_alert" and "observations" in self._tables:
            return self._glucose_alerts(since, now)
        return {}

    def _glucose_alerts(self, since: dt.datetime, now: dt.datetime) -> dict[str, dt.datetime]:
        """When each patient's run of high-glucose local days reached `glucose_alert_days`
        (the first high reading of that day), for runs reaching it in (since, now]."""
        from careops.tags.codes import GLUCOSE_CODES

        h = self.settings.health
        need = h.glucose_alert_days
        o = self.con.table("observations")
        lookback = since - dt.timedelta(days=need + 1)
        q = o.filter(
            o.code.isin(list(GLUCOSE_CODES)),
            o.value > h.glucose_alert_mmol,
            o.ts > _lit(lookback),
            o.ts <= _lit(now),
        ).select("user_id", "ts")
        tz = self.settings.tz
        days: dict[str, dict[dt.date, dt.datetime]] = {}
        for r in q.to_pyarrow().to_pylist():
            t = _aware(r["ts"])
            day = t.astimezone(tz).date()
            first = days.setdefault(r["user_id"], {})
            if day not in first or t < first[day]:
                first[day] = t
        out: dict[str, dt.datetime] = {}
        for user, first in days.items():
            run, prev = 0, None
            for day in sorted(first):
                run = run + 1 if prev is not None and day - prev == dt.timedelta(days=1) else 1
                prev = day
                if run == need and since < first[day] <= now:
                    out[user] = first[day]
                    break
        return out

    def withdrawals(
        self, since: dt.datetime, now: dt.datetime, users: Iterable[str]
    ) -> dict[str, list[dt.datetime]]:
        """Per patient, the times they withdrew marketing consent (or all) in (since, now]."""
        users = list(dict.fromkeys(users))
        if not users or "consents" not in self._tables:
            return {}
        c = self.con.table("consents")
        want = ibis.memtable(pa.table({"_uid": pa.array(users, pa.string())}))
        q = c.filter(
            c.granted == 0,
            c.purpose.isin(["marketing", "all"]),
            c.ts > _lit(since),
            c.ts <= _lit(now),
        )
        q = q.semi_join(want, q.user_id == want._uid).select("user_id", "ts")
        out: dict[str, list[dt.datetime]] = {}
        for r in q.to_pyarrow().to_pylist():
            out.setdefault(r["user_id"], []).append(_aware(r["ts"]))
        return out

    def date_matches(self, attribute: str, offset_days: int, day: dt.date) -> frozenset[str]:
        """Patients whose `attribute` date plus `offset_days` is `day` (hospital time)."""
        from careops.journeys.definition import DATE_ATTRIBUTES

        table, column = DATE_ATTRIBUTES[attribute].split(".")
        if table not in self._tables:
            return frozenset()
        t = self.con.table(table)
        target = day - dt.timedelta(days=offset_days)
        if attribute == "birthday":
            col = t[column]
            q = t.filter(col.month() == target.month, col.day() == target.day)
        else:
            tz = self.settings.tz
            lo = dt.datetime.combine(target, dt.time(), tzinfo=tz)
            hi = lo + dt.timedelta(days=1)
            q = t.filter(t[column] >= _lit(lo), t[column] < _lit(hi))
        return frozenset(q.select("user_id").distinct().to_pyarrow()["user_id"].to_pylist())

    # ------------------------------------------------------------------ triggers

    def entrants(
        self, journey: Journey, since: dt.datetime | None, now: dt.datetime
    ) -> frozenset[str]:
        """Who the trigger brings in over (since, now] (since None: the first check)."""
        trig = journey.trigger
        today = self.as_of(now)
        found: frozenset[str]
        if isinstance(trig, EventTrigger):
            start = since or now - dt.timedelta(seconds=1)
            found = frozenset(self.event_users(trig.event, start, now))
            if trig.where is not None:
                found &= self.members(trig.where.rule, today)
        elif isinstance(trig, SegmentTrigger | LayerTrigger):
            rule = self._trigger_rule(trig)
            before = self.as_of(since) if since is not None else None
            if since is None:
                entry = trig.kind.endswith("_entry")
                found = self.members(rule, today) if entry else frozenset()
            elif before == today:
                found = frozenset()  # membership is by day: no change within a day
            else:
                current, previous = self.members(rule, today), self.members(rule, before)
                entry = trig.kind.endswith("_entry")
                found = current - previous if entry else previous - current
        elif isinstance(trig, DateTrigger):
            found = frozenset()
            for day in self._moments(trig.at, since, now):
                found |= self.date_matches(trig.attribute, trig.offset_days, day)
        elif isinstance(trig, ScheduleTrigger):
            found = frozenset()
            for day in self._moments(trig.at, since, now):
                if trig.every == "week" and day.isoweekday() != trig.weekday:
                    continue
                if trig.every == "month" and day.day != trig.day:
                    continue
                if trig.audience is not None:
                    found |= self.members(trig.audience.rule, day)
                else:
                    found |= self._everyone(day)
        else:  # pragma: no cover - the definition allows no other kind
            raise AssertionError(trig)
        if journey.audience is not None and found:
            found &= self.members(journey.audience.rule, today)
        return found

    def _everyone(self, day: dt.date) -> frozenset[str]:
        from careops.tags.context import TagContext

        if "patients" not in self._tables:
            return frozenset()
        ctx = TagContext(self.con, day, self.settings)
        t = ctx.facts("patients", "registered_at").select("user_id")
        return frozenset(t.to_pyarrow()["user_id"].to_pylist())

    def _trigger_rule(self, trig: SegmentTrigger | LayerTrigger) -> Any:
        if isinstance(trig, LayerTrigger):
            return {"tag": trig.tag, "op": "==", "value": trig.value}
        if trig.rule is not None:
            return trig.rule.rule
        from careops.errors import NotFound

        if trig.segment not in self.saved:
            raise NotFound(f"没有保存的人群 / no saved segment {trig.segment!r}")
        return self.saved[trig.segment]

    def _moments(self, at: str, since: dt.datetime | None, now: dt.datetime) -> list[dt.date]:
        """Local days whose `at` time falls in (since, now]."""
        tz = self.settings.tz
        hour, minute = (int(x) for x in at.split(":"))
        start = since or now - dt.timedelta(seconds=1)
        day = start.astimezone(tz).date()
        out = []
        while day <= now.astimezone(tz).date():
            moment = dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)
            if start < moment <= now:
                out.append(day)
            day += dt.timedelta(days=1)
        return out


def _lit(t: dt.datetime) -> Any:
    return ibis.literal(t.astimezone(dt.UTC), type="timestamp('UTC')")


def _aware(t: dt.datetime) -> dt.datetime:
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
