"""One clock for the engine: replay journeys over simulated time, or run them live.

`run(ops, journeys, start, end)` calls `engine.tick` at every step of simulated time (default
hourly) — the same function the live worker job calls with the wall clock (`live_tick`). With a
simulation folder (`respond`), each send the dispatcher hands over is answered by the
simulator (`careops.sim.respond`: opens, clicks, app visits, orders, opt-outs from the
patients' hidden traits) and the answers are written into the warehouse's `events`, `orders`
and `consents`, where the next ticks read them (exits, waits, consent).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from careops.errors import InvalidInput
from careops.journeys import engine
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.dispatch import ChannelSender, Sender, dispatch

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.journeys.definition import Loaded
    from careops.service import Ops

MAX_TICKS = 20_000
#: which simulated message type a journey's messages are (the simulator's response model)
SIM_MESSAGE_TYPES = {
    "chronic_bp": "health_reminder",
    "glucose_alert": "health_reminder",
    "silent_recall": "recall",
    "churn_winback": "coupon",
    "renewal_ladder": "renewal_offer",
    "new_user": "content",
    "referral": "content",
}
SIM_CHANNELS = {"app_push": "app_push", "sms": "sms", "wechat": "wechat", "phone": "phone"}


@dataclass
class RunReport:
    """A replay: the ticks run, the totals, and what the simulator answered."""

    start: dt.datetime
    end: dt.datetime
    ticks: int = 0
    totals: engine.TickReport = field(default_factory=engine.TickReport)
    responses: dict[str, int] = field(default_factory=dict)


class SimPeer:
    """The simulator as the channel peer: accepts every message, remembers what it got
    (each key once: it deduplicates by idempotency key, as providers do)."""

    name = "sim"

    def __init__(self) -> None:
        self.received: list[Message] = []
        self.keys: set[str] = set()

    def __call__(self, channel: str, messages: list[Message]) -> list[Outcome]:
        for m in messages:
            if m.idempotency_key not in self.keys:
                self.keys.add(m.idempotency_key)
                self.received.append(m)
        return [Outcome("sent", provider_id=m.idempotency_key) for m in messages]


def answer(con: BaseBackend, sim_out: Path, sent: list[Any], now: dt.datetime) -> dict[str, int]:
    """The simulator's answers to `sent` outbox rows, written into the warehouse `con`."""
    from careops.schema import TABLES
    from careops.sim.respond import respond

    rows = [r for r in sent if r.kind == "message" and r.channel in SIM_CHANNELS]
    if not rows:
        return {}
    sends = pa.table(
        {
            "user_id": pa.array([r.user_id for r in rows], pa.string()),
            "ts": pa.array([now] * len(rows), pa.timestamp("us", tz="UTC")),
            "channel": pa.array([SIM_CHANNELS[r.channel] for r in rows], pa.string()),
            "message_type": pa.array(
                [SIM_MESSAGE_TYPES.get(r.journey, "content") for r in rows], pa.string()
            ),
            "send_id": pa.array([r.key for r in rows], pa.string()),
            "purpose": pa.array([r.purpose for r in rows], pa.string()),
        }
    )
    tables = respond(sends, sim_out)
    counts = {}
    for name, table in tables.items():
        if table.num_rows:
            con.insert(name, table.select(TABLES[name].arrow_schema().names))
        counts[name] = table.num_rows
    return counts


def run(
    ops: Ops,
    journeys: list[Loaded],
    start: dt.datetime,
    end: dt.datetime,
    *,
    step: dt.timedelta = dt.timedelta(hours=1),
    respond: Path | None = None,
    sender: Sender | None = None,
    batch: int = engine.BATCH,
    dispatch_batch: int = 500,
) -> RunReport:
    """Replay `journeys` from `start` to `end` (UTC-aware) in steps of `step`; `batch`
    enrolments advance per transaction, `dispatch_batch` outbox rows are sent per one."""
    ops.require("journeys.write")
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInput("起止时间需要时区 / start and end must carry a time zone")
    if end < start:
        raise InvalidInput(f"结束早于开始 / end {end:%Y-%m-%d} is before start {start:%Y-%m-%d}")
    if step <= dt.timedelta(0):
        raise InvalidInput("步长须为正 / the time step must be positive")
    if (end - start) / step > MAX_TICKS:
        raise InvalidInput(f"步数过多 / more than {MAX_TICKS:,} ticks: use a longer step")
    if respond is not None:
        from careops.sim.respond import load_truth

        load_truth(respond)  # a clear error now rather than after the first sends
    report = RunReport(start, end)
    for item in journeys:
        engine.start_cursor(ops, item.journey, start)
    peer = sender or (SimPeer() if respond is not None else ChannelSender(ops.settings))
    t = start
    cache: dict = {}
    # one warehouse connection for the whole replay: it reads, and takes the simulator's answers
    with ops.warehouse(read_only=respond is None) as con:
        while t <= end:
            sent: list[Any] = []
            done = engine.tick(
                ops,
                journeys,
                t,
                batch=batch,
                cache=cache,
                con=con,
                dispatcher=lambda o, now, sent=sent: dispatch(
                    o, now, peer, batch=dispatch_batch, on_sent=sent.extend
                ),
            )
            report.totals.add(done)
            if respond is not None and sent:
                for k, v in answer(con, respond, sent, t).items():
                    report.responses[k] = report.responses.get(k, 0) + v
            report.ticks += 1
            t += step
    ops.audit(
        "journeys.run",
        ",".join(j.journey.key for j in journeys),
        {"start": start.isoformat(), "end": end.isoformat(), "ticks": report.ticks,
         "sent": report.totals.sent, "entered": report.totals.entered},
    )  # fmt: skip
    return report


def live_tick(ops: Ops) -> engine.TickReport:
    """The live worker's job: the journeys switched on (`careops.journeys.switch`: the
    hospital's own, setting `journeys.dir`, unless disabled; shipped templates once enabled)
    at the wall clock, sent through the configured channels."""
    from careops.journeys import switch
    from careops.journeys.catalogue import entries

    live = switch.live(ops, [(e.loaded, e.origin) for e in entries(ops.settings) if e.loaded])
    if not live:
        return engine.TickReport()
    sender = ChannelSender(ops.settings)
    now = dt.datetime.now(dt.UTC)
    return engine.tick(ops, live, now, dispatcher=lambda o, t: dispatch(o, t, sender))
