"""`dry_run`: who would enter a journey as of a date, and what each would get — nothing written.

The trigger is read as the engine reads it (audience.py) over the day before `as_of` (event,
date and schedule triggers) or as of `as_of` (segment and layer membership), the re-entry rule
against the enrolments already stored; then each entrant's path is walked: branches evaluated
set-wise, splits by the same hash as the engine, waits noted (an event wait takes its timeout
path), and every message decided by the send policy at `at` (hospital time) on `as_of`.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from careops.journeys.audience import Reader
from careops.journeys.definition import (
    EXIT,
    BranchStep,
    Loaded,
    MessageStep,
    SplitStep,
    WaitStep,
)
from careops.journeys.engine import _saved_rules, eligible, split_unit

if TYPE_CHECKING:
    from careops.service import Ops

MAX_ROWS = 1_000_000


@dataclass
class Planned:
    """One entrant: the steps they would pass and the actions they would get."""

    user_id: str
    path: list[str] = field(default_factory=list)
    actions: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class DryRun:
    journey: str
    as_of: dt.date
    entrants: int
    refused_by_reentry: int
    planned: list[Planned]

    def counts(self) -> dict[str, int]:
        """Actions per (step, decision)."""
        out: dict[str, int] = defaultdict(int)
        for p in self.planned:
            for a in p.actions:
                out[f"{a['step']}:{a.get('decision', 'send')}"] += 1
        return dict(sorted(out.items()))


def dry_run(ops: Ops, loaded: Loaded, as_of: dt.date, *, at: str = "10:00") -> DryRun:
    """What the journey would do as of `as_of` (see the module docstring)."""
    ops.require("journeys.read")
    from careops.tags.context import check_as_of

    check_as_of(as_of)
    j = loaded.journey
    tz = ops.settings.tz
    now = dt.datetime.combine(as_of, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    hour, minute = (int(x) for x in at.split(":"))
    moment = dt.datetime.combine(as_of, dt.time(hour, minute), tzinfo=tz).astimezone(dt.UTC)
    trig_kind = j.trigger.kind
    since = None if trig_kind.startswith(("segment", "layer")) else now - dt.timedelta(days=1)
    with ops.warehouse(read_only=True) as con:
        reader = Reader(con, ops.settings, _saved_rules(ops, [loaded]))
        found = reader.entrants(j, since, now)
        with ops.state.connect() as conn:
            users, _ = eligible(conn, j, found, moment)
        planned = {u: Planned(u) for u in users}
        cursor = {u: j.steps[0].id for u in users}
        messages: list[tuple[str, MessageStep]] = []
        for _ in range(2 * len(j.steps) + 2):
            if not cursor:
                break
            groups: dict[str, list[str]] = defaultdict(list)
            for u, s in cursor.items():
                groups[s].append(u)
            cursor = {}
            for step_id, group in groups.items():
                step = j.step(step_id)
                nxt = j.following(step_id)
                targets: dict[str, str] = {}
                if isinstance(step, BranchStep):
                    left = set(group)
                    for b in step.branches:
                        hit = left & reader.members(b.when.rule, as_of)
                        targets.update(dict.fromkeys(hit, b.goto))
                        left -= hit
                    targets.update(dict.fromkeys(left, step.otherwise))
                elif isinstance(step, SplitStep):
                    for u in group:
                        x, acc, goto = split_unit(j.key, step_id, u), 0.0, EXIT
                        for a in step.arms:
                            acc += a.weight
                            if x < acc:
                                goto = a.goto
                                break
                        targets[u] = goto
                        if goto == EXIT:
                            planned[u].actions.append({"step": step_id, "type": "holdout"})
                elif isinstance(step, WaitStep):
                    dest = (step.on_timeout or nxt) if step.event else nxt
                    targets.update(dict.fromkeys(group, dest))
                elif isinstance(step, MessageStep):
                    messages.extend((u, step) for u in group)
                    targets.update(dict.fromkeys(group, nxt))
                else:
                    for u in group:
                        planned[u].actions.append({"step": step_id, "type": step.type})
                    targets.update(dict.fromkeys(group, nxt))
                for u in group:
                    planned[u].path.append(step_id)
                    if targets[u] != EXIT:
                        cursor[u] = targets[u]
        _decide(ops, reader, loaded, messages, moment, planned)
    ordered = [planned[u] for u in sorted(planned)]
    return DryRun(j.key, as_of, len(found), len(found) - len(users), ordered[:MAX_ROWS])


def _decide(
    ops: Ops,
    reader: Reader,
    loaded: Loaded,
    messages: list[tuple[str, MessageStep]],
    moment: dt.datetime,
    planned: dict[str, Planned],
) -> None:
    from careops.journeys.catalogue import journey_caps
    from careops.journeys.inputs import read_consents, read_profiles
    from careops.journeys.policy import decide

    if not messages:
        return
    users = pa.array(list(dict.fromkeys(u for u, _ in messages)), pa.string())
    cand = pa.table(
        {
            "candidate_id": pa.array([str(i) for i in range(len(messages))], pa.string()),
            "user_id": pa.array([u for u, _ in messages], pa.string()),
            "journey": pa.array([loaded.journey.key] * len(messages), pa.string()),
            "step": pa.array([s.id for _, s in messages], pa.string()),
            "purpose": pa.array([s.purpose for _, s in messages], pa.string()),
            "channel": pa.array([s.channel for _, s in messages], pa.string()),
            "due_at": pa.array([moment] * len(messages), pa.timestamp("us", tz="UTC")),
            "medical_safety": pa.array([s.medical_safety for _, s in messages], pa.bool_()),
        }
    )
    decided = decide(
        cand,
        moment,
        profiles=read_profiles(reader.con, reader.as_of(moment), users),
        consents=read_consents(reader.con, users),
        journey_caps=journey_caps([loaded]),
        settings=ops.settings,
    ).to_pylist()
    for (u, step), d in zip(messages, decided, strict=True):
        planned[u].actions.append(
            {"step": step.id, "type": "message", "purpose": step.purpose,
             "channel": d["channel"], "decision": d["decision"], "reason": d["reason"]}
        )  # fmt: skip
