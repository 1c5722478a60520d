"""What the service's worker runs, and when: a job is a name, a schedule and a function of an
`Ops`. Capabilities register theirs in `default_jobs` (journeys and model scoring will add
theirs); the schedule says when a job is next due from when it last ran."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from careops.service import Ops


class Schedule(Protocol):
    def next_after(self, last: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        """When the job is due next, given when it last ran (None: never in this process)."""


@dataclass(frozen=True)
class Every:
    """Every `seconds` (the first run right away)."""

    seconds: float

    def next_after(self, last: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        return now if last is None else last + dt.timedelta(seconds=self.seconds)


@dataclass(frozen=True)
class Daily:
    """Once a day at a local wall-clock time (`HH:MM` in `timezone`); a service started after
    today's time runs it tomorrow, not at once."""

    at: str
    timezone: str

    def next_after(self, last: dt.datetime | None, now: dt.datetime) -> dt.datetime:
        zone = ZoneInfo(self.timezone)
        hour, minute = (int(x) for x in self.at.split(":"))
        base = (last or now).astimezone(zone)
        due = base.replace(hour=hour, minute=minute, second=0, microsecond=0)
        if due <= base:
            due += dt.timedelta(days=1)
        return due.astimezone(dt.UTC)


@dataclass(frozen=True)
class Job:
    """A named piece of scheduled work."""

    name: str
    schedule: Schedule
    run: Callable[[Ops], Any]


def default_jobs(ops: Ops, *, scheduled: bool) -> list[Job]:
    """The jobs a service runs: the intake flusher whenever the warehouse has a journal
    (accepted events must reach the warehouse); with `scheduled` (`--with-worker`) also the
    nightly tag snapshot."""
    from careops.intake.journal import journal_path

    jobs: list[Job] = []
    if journal_path(ops.warehouse_url, ops.settings) is not None:
        jobs.append(Job("intake.flush", Every(ops.settings.intake.flush_interval_s), flush))
    if scheduled:
        jobs.append(
            Job(
                "tags.snapshot",
                Daily(ops.settings.service.snapshot_at, ops.settings.timezone),
                snapshot,
            )
        )
        jobs.append(Job("journeys.tick", Every(60.0), journeys_tick))
    return jobs


def journeys_tick(ops: Ops) -> Any:
    """Advance the hospital's journeys at the wall clock (the same `engine.tick` a replay
    runs over simulated time)."""
    from careops.journeys.clock import live_tick

    return live_tick(ops)


def flush(ops: Ops) -> Any:
    """Move accepted events from the intake journal into the warehouse."""
    from careops.intake.service import flush_journal

    return flush_journal(ops)


def snapshot(ops: Ops) -> Any:
    """Store today's tag snapshot (as of the hospital's local date)."""
    from careops.service import now
    from careops.tags.service import compute

    today = now().astimezone(ZoneInfo(ops.settings.timezone)).date()
    return compute(ops, today)
