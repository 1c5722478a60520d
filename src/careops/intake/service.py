"""Event intake as a service: `receive_events(ops, events)` and the journal flusher.

A request's events are checked with the file door's rules, then stored durably and
idempotently before the answer: PostgreSQL straight into `events`; an embedded warehouse into
the intake journal, which `flush_journal` (the service's writer job) moves into the warehouse
every `intake.flush_interval_s`. Validation and the durable commit have a fixed cost per call,
so requests arriving together are checked and committed together (group commit, one thread per
warehouse); each still gets its own answer and its own audit entry.
"""

from __future__ import annotations

import datetime as dt
import queue
import threading
import uuid
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from careops.errors import InvalidInput
from careops.intake.check import Checked, Rejected, check_group
from careops.intake.journal import Appended, journal, journal_path

if TYPE_CHECKING:
    from careops.config import Settings
    from careops.service import Ops

__all__ = [
    "FlushResult",
    "IntakeResult",
    "Rejected",
    "flush_journal",
    "forget_user",
    "receive_events",
]

CONFLICT = (
    "已存储同一 event_id 的不同内容 / an event with this event_id is already stored with "
    "different content"
)


@dataclass(frozen=True)
class IntakeResult:
    """The answer to one batch: stored now, already stored (same content), refused."""

    accepted: int
    duplicates: int
    rejected: list[Rejected] = field(default_factory=list)


def receive_events(ops: Ops, events: list[Any]) -> IntakeResult:
    """Check and durably store a batch of events; audited (who, how many, no content) in the
    state store, one transaction for the requests stored together."""
    ops.require("events.write")
    limit = ops.settings.intake.max_batch
    if len(events) > limit:
        raise InvalidInput(
            f"events: 一次最多 {limit} 个事件 / at most {limit} events per request, "
            f"got {len(events)}; split the batch"
        )
    future: Future = Future()
    _enqueue(ops, (ops, events, future))
    return future.result()


class _Committer:
    """One thread per warehouse that checks and stores whatever requests arrived meanwhile,
    as one group (up to `intake.max_batch` × 8 events); a second thread audits each stored
    group and answers its requests, while the first already checks the next group."""

    IDLE_S = 2.0  # threads end after this long without a request (started again on demand)

    def __init__(self, key: tuple[str, str], warehouse_url: str, settings: Settings) -> None:
        self.key = key
        self.warehouse_url = warehouse_url
        self.settings = settings
        self.path = journal_path(warehouse_url, settings)
        self.alive = True
        self._queue: queue.Queue[tuple[Ops, list[Any], Future]] = queue.Queue()
        self._stored: queue.Queue[tuple[list, list[IntakeResult], Any] | None] = queue.Queue(
            maxsize=4
        )
        self._threads = [
            threading.Thread(target=target, name=name, daemon=True)
            for target, name in (
                (self._run, "careops-intake"),
                (self._finish, "careops-intake-audit"),
            )
        ]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """End both threads once the requests already queued are answered (called under
        `_STARTING`, so no request is queued to a stopping committer)."""
        if self.alive:
            self.alive = False
            self._queue.put(None)  # type: ignore[arg-type]

    def join(self, timeout: float = 10.0) -> None:
        for t in self._threads:
            if t is not threading.current_thread():
                t.join(timeout)

    def _next(self) -> tuple[Ops, list[Any], Future] | None:
        """The next request; None when stopped, or idle for IDLE_S (then unregistered, so
        that no thread outlives its use: a forked child — Spark's gateway, a subprocess —
        must not inherit busy threads)."""
        while True:
            try:
                return self._queue.get(timeout=self.IDLE_S)
            except queue.Empty:
                with _STARTING:
                    if self._queue.empty():
                        if _COMMITTERS.get(self.key) is self:
                            del _COMMITTERS[self.key]
                        self.alive = False
                        return None

    def _run(self) -> None:
        most = self.settings.intake.max_batch * 8
        while True:
            first = self._next()
            if first is None:
                self._stored.put(None)
                return
            group = [first]
            size = len(group[0][1])
            while size < most:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:  # stopping: answer this group, then end
                    self._queue.put(None)  # type: ignore[arg-type]
                    break
                group.append(item)
                size += len(item[1])
            try:
                results, rows = self._commit([events for _, events, _ in group])
            except BaseException as exc:  # every waiting request gets the error
                for _, _, future in group:
                    future.set_exception(exc)
                continue
            self._stored.put((group, results, rows))

    def _finish(self) -> None:
        """Audit a stored group, then answer its requests (an audit that fails is the
        requests' error: sent again, their events count as duplicates)."""
        while True:
            item = self._stored.get()
            if item is None:
                return
            group, results, rows = item
            try:
                _audit([(o, len(e), r) for (o, e, _), r in zip(group, results, strict=True)])
                _reading_alerts(group[0][0], rows)
            except BaseException as exc:
                for _, _, future in group:
                    future.set_exception(exc)
                continue
            for (_, _, future), result in zip(group, results, strict=True):
                future.set_result(result)

    def _commit(self, batches: list[list[Any]]) -> tuple[list[IntakeResult], Any]:
        if not any(batches):
            return [IntakeResult(0, 0) for _ in batches], None
        checked = check_group(batches, self.settings)
        stored = self._store(checked.rows)
        answers = [_answer(c, stored, g, checked.owner) for g, c in enumerate(checked.checked)]
        return answers, checked.rows

    def _store(self, rows) -> Appended:
        if self.path is not None:
            return journal(self.path).append(rows)
        from careops.intake.postgres import store
        from careops.warehouse import warehouse

        with warehouse(self.warehouse_url) as con:
            return store(con, rows, f"api-{uuid.uuid4().hex[:12]}")


def _audit(done: list[tuple[Ops, int, IntakeResult]]) -> None:
    """One audit entry per request (who, how many; never the events' content), written in one
    transaction per state store."""
    by_state: dict[int, list[tuple[Ops, int, IntakeResult]]] = {}
    for item in done:
        by_state.setdefault(id(item[0].state), []).append(item)
    for items in by_state.values():
        with items[0][0].state.begin() as conn:
            for ops, received, r in items:
                ops.audit(
                    "events.intake",
                    target="events",
                    detail={
                        "received": received,
                        "accepted": r.accepted,
                        "duplicates": r.duplicates,
                        "rejected": len(r.rejected),
                    },
                    conn=conn,
                )


def _reading_alerts(ops: Ops, rows: Any) -> None:
    """Abnormal-reading alerts on the `device_reading` events just stored (careops.care.alerts),
    raised before the requests are answered: an alert is never later than its reading's 200."""
    if rows is None or not len(rows):
        return
    from careops.care.alerts_service import on_events

    on_events(ops, rows)


def _answer(
    c: Checked, stored: Appended, g: int, owner: dict[str, tuple[int, int]]
) -> IntakeResult:
    """One request's share of a group's outcome."""
    same = sum(1 for e in stored.same if owner[e][0] == g)
    conflicts = [
        Rejected(owner[e][1], e, "event_id", CONFLICT) for e in stored.different if owner[e][0] == g
    ]
    mine = len(c.index)
    rejected = sorted([*c.rejected, *conflicts], key=lambda r: r.index)
    return IntakeResult(
        accepted=mine - same - len(conflicts),
        duplicates=c.duplicates + same,
        rejected=rejected,
    )


_COMMITTERS: dict[tuple[str, str], _Committer] = {}
_STARTING = threading.Lock()


def _key(warehouse_url: str, settings: Settings) -> tuple[str, str]:
    path = journal_path(warehouse_url, settings)
    return (warehouse_url, str(path.resolve()) if path else "")


def _enqueue(ops: Ops, request: tuple[Ops, list[Any], Future]) -> None:
    """Queue a request to the warehouse's committer, starting one if none is running."""
    key = _key(ops.warehouse_url, ops.settings)
    with _STARTING:
        c = _COMMITTERS.get(key)
        if c is None or not c.alive or c.settings != ops.settings:
            if c is not None:
                c.stop()
            c = _COMMITTERS[key] = _Committer(key, ops.warehouse_url, ops.settings)
        c._queue.put(request)


def stop_intake(warehouse_url: str, settings: Settings) -> None:
    """End the intake threads of a warehouse (the service's shutdown), after answering what
    was queued."""
    with _STARTING:
        c = _COMMITTERS.pop(_key(warehouse_url, settings), None)
        if c is not None:
            c.stop()
    if c is not None:
        c.join()


@dataclass(frozen=True)
class FlushResult:
    """What one flush moved from the journal into the warehouse."""

    rows: int
    loaded: int
    duplicates: int
    load_id: str | None = None
    backlog: int = 0
    pruned: int = 0  # flushed events older than `intake.journal_keep_days` forgotten


def flush_journal(ops: Ops, limit: int | None = None) -> FlushResult:
    """Move the journal's unflushed events into the warehouse (one transaction per chunk of
    `intake.flush_max_rows`), until none is left; a no-op on PostgreSQL."""
    from careops.warehouse import create_tables
    from careops.warehouse.load import Batch, TablePart, apply_batch

    path = journal_path(ops.warehouse_url, ops.settings)
    if path is None or not Path(path).exists():
        return FlushResult(0, 0, 0)
    j = journal(path)
    limit = limit or ops.settings.intake.flush_max_rows
    total = loaded = dups = 0
    load_id = None
    with ops.warehouse() as con:
        create_tables(con)
        while True:
            rows, first, last = j.pending(limit)
            if not len(rows):
                break
            load_id = f"api-{uuid.uuid4().hex[:12]}"
            part = TablePart(table="events", rows=rows, rows_in=len(rows))
            batch = Batch(
                load_id=load_id,
                source="api:/api/v1/events",
                content_hash=f"intake:{j.id}:{first}-{last}",
                started_at=_now(),
                parts=[part],
            )
            apply_batch(con, batch)
            j.mark_flushed(last)
            total += len(rows)
            loaded += part.loaded
            # the ledger knew this very range (moved before a crash): all of it is there
            dups += len(rows) if batch.status == "already_loaded" else part.duplicates
            if len(rows) < limit:
                break
    keep = dt.timedelta(days=ops.settings.intake.journal_keep_days)
    pruned = j.prune(_now() - keep)
    return FlushResult(total, loaded, dups, load_id, j.backlog(), pruned)


def _now():
    from careops.service import now

    return now()


def forget_user(ops: Ops, user_id: str) -> int:
    """Erasure (PIPL): remove patient `user_id`'s events from the intake journal, those not yet
    in the warehouse and those kept for duplicate answers, so that no flush brings them back;
    return how many. To be called by the erasure before it erases the warehouse."""
    path = journal_path(ops.warehouse_url, ops.settings)
    if path is None or not Path(path).exists():
        return 0
    return journal(path).forget_user(user_id)
