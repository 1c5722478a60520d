"""The analyst SQL door: run one read-only query for a person, stream its rows, audit the run.

    with run_query(ops, "SELECT department, count(*) FROM consultations GROUP BY 1") as run:
        print(run.schema.names)
        for batch in run:          # Arrow record batches, never the whole result at once
            ...

Two walls stand between the text and the data (docs/sql.md):

1. the engine: DuckDB with external access off and its configuration locked, PostgreSQL in a
   READ ONLY transaction as the analyst role (`careops.warehouse.analyst_engines`);
2. the statement check (`careops.warehouse.query.check_statement`): one SELECT over the analyst
   tables, no table function, no prefixed name, no function that reaches outside. On Spark this
   is the only wall, and the text run is the one regenerated from the checked tree.

Limits: the whole run (execution and every row fetched) is cancelled after `timeout_s`
(setting `sql.timeout_s`), on PostgreSQL also by the server's `statement_timeout`; `cancel()`
(the CLI calls it on Ctrl-C; the API when the client goes away) interrupts the engine. The
engine runs in a worker thread so that the caller's thread stays free to notice a timeout or a
signal while the engine is busy.

Every run is audited once, when it ends, with the query text, the rows delivered, the outcome
and the actor (PIPL: analyst SQL exports patient-level data); refused queries too. The state
store is reached before the query runs, so a run that could not be audited does not run.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

import pyarrow as pa

from careops.errors import CareOpsError, ConfigError, Forbidden, InvalidInput, Unavailable
from careops.warehouse.connect import backend_kind
from careops.warehouse.query import check_statement

if TYPE_CHECKING:
    from careops.service import Ops
    from careops.warehouse.analyst_engines import Session

Outcome = Literal["ok", "refused", "invalid", "failed", "timeout", "cancelled", "stopped"]

BATCH_ROWS = 10_000
AUDIT_QUERY_CHARS = 10_000


class QueryTimeout(InvalidInput):
    """The query ran longer than `sql.timeout_s` and was cancelled."""


class QueryCancelled(CareOpsError):
    """The person asking cancelled the query (Ctrl-C)."""

    exit_code = 130


@dataclass
class QueryRun:
    """A running analyst query: its columns (`schema`), then its rows as Arrow record batches
    when iterated. `rows` counts the rows delivered so far."""

    schema: pa.Schema
    engine: str
    timeout_s: float
    rows: int = 0
    outcome: Outcome = "ok"
    _runner: _Runner | None = field(default=None, repr=False)

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        assert self._runner is not None
        for batch in self._runner.batches():
            self.rows += batch.num_rows
            yield (
                batch.rename_columns(self.schema.names)
                if batch.schema.names != self.schema.names
                else batch
            )

    def cancel(self) -> None:
        """Interrupt the engine (safe from any thread, or a signal handler)."""
        if self._runner is not None:
            self._runner.cancel("cancelled")


@contextmanager
def run_query(
    ops: Ops, text: str, *, timeout_s: float | None = None, batch_rows: int = BATCH_ROWS
) -> Iterator[QueryRun]:
    """Check and start one analyst query; yield it to be iterated; audit it when done.

    Raises `InvalidInput` (does not parse, too long or deep, failed, timed out), `Forbidden`
    (reaches beyond reading the analyst tables), `QueryCancelled`."""
    timeout = float(timeout_s if timeout_s is not None else ops.settings.sql.timeout_s)
    if not timeout > 0:
        raise ConfigError(
            "超时必须大于 0 秒 / timeout must be more than 0 seconds", field="timeout"
        )
    started = time.monotonic()
    engine = "?"
    run: QueryRun | None = None
    outcome: Outcome = "ok"
    problem: str | None = None
    with ops.warehouse(read_only=True) as con:
        try:
            engine = backend_kind(con)
            _reach_audit_trail(ops)  # before any row leaves
            checked = check_statement(text, engine)
            session = _open(engine, con, ops, timeout, batch_rows)
            runner = _Runner(
                session, checked.canonical if engine == "pyspark" else text, timeout, started
            )
            try:
                schema = runner.start()
                run = QueryRun(schema=schema, engine=engine, timeout_s=timeout, _runner=runner)
                yield run
                outcome = run.outcome
            finally:
                runner.close()
        except QueryTimeout as exc:
            outcome, problem = "timeout", str(exc)
            raise
        except (QueryCancelled, KeyboardInterrupt) as exc:
            outcome, problem = "cancelled", "cancelled"
            if isinstance(exc, KeyboardInterrupt):
                raise QueryCancelled("查询已取消 / query cancelled") from None
            raise
        except Forbidden as exc:
            outcome, problem = "refused", str(exc)
            raise
        except InvalidInput as exc:
            outcome, problem = (
                ("failed" if run is not None or "query failed" in str(exc) else "invalid"),
                str(exc),
            )
            raise
        except GeneratorExit:
            outcome = "stopped"  # the caller stopped reading (an API client went away)
            raise
        except BaseException as exc:
            outcome, problem = "failed", f"{type(exc).__name__}: {exc}"[:500]
            raise
        finally:
            _audit(ops, text, engine, run, outcome, problem, time.monotonic() - started)


def _reach_audit_trail(ops: Ops) -> None:
    try:
        ops.state  # noqa: B018 — opened and migrated
    except CareOpsError:
        raise
    except Exception as exc:
        raise Unavailable(
            f"审计库无法访问, 查询未运行 / the audit trail (state store) cannot be "
            f"reached, so the query was not run: {type(exc).__name__}"
        ) from None


def _audit(
    ops: Ops,
    text: str,
    engine: str,
    run: QueryRun | None,
    outcome: Outcome,
    problem: str | None,
    seconds: float,
) -> None:
    query = (text if isinstance(text, str) else repr(text)).replace("\x00", "\\x00")
    detail = {
        "query": query[:AUDIT_QUERY_CHARS],
        "query_chars": len(query),
        "engine": engine,
        "outcome": outcome,
        "rows": run.rows if run is not None else 0,
        "seconds": round(seconds, 3),
    }
    if problem:
        detail["problem"] = problem[:500]
    try:
        ops.audit("sql", target=ops.warehouse_url, detail=detail)
    except Exception:
        if outcome == "ok":  # a run that cannot be audited is an error, not a silent success
            raise


def _open(engine: str, con, ops: Ops, timeout: float, batch_rows: int) -> Session:
    from careops.warehouse import analyst_engines as engines

    if engine == "duckdb":
        return engines.DuckDBSession(con, batch_rows)
    if engine == "postgres":
        return engines.PostgresSession(ops.warehouse_url, ops.settings, timeout, batch_rows)
    return engines.SparkSession(con, batch_rows)


_END = object()


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class _Runner:
    """Runs a session in a worker thread; the caller's thread waits in short steps, so a
    timeout or Ctrl-C is noticed while the engine is busy, and the engine is interrupted."""

    POLL_S = 0.05

    def __init__(self, session: Session, text: str, timeout_s: float, started: float) -> None:
        self.session = session
        self.text = text
        self.timeout_s = timeout_s
        self.deadline = started + timeout_s
        self.items: queue.Queue = queue.Queue(maxsize=2)  # a slow reader slows the engine
        self.stop = threading.Event()
        self.reason: str | None = None
        self.failure: BaseException | None = None
        self.thread = threading.Thread(target=self._work, name="careops-sql", daemon=True)

    def start(self) -> pa.Schema:
        self.thread.start()
        item = self._next()
        if isinstance(item, pa.Schema):
            return item
        raise ConfigError(
            "查询失败: 没有结果 / query failed: no result"
        )  # pragma: no cover - engine contract

    def batches(self) -> Iterator[pa.RecordBatch]:
        while True:
            item = self._next()
            if item is _END:
                return
            yield item

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason
        self.stop.set()
        with suppress(Exception):  # the engine finished meanwhile
            self.session.interrupt()

    def close(self) -> None:
        if self.thread.is_alive():
            self.cancel(self.reason or "stopped")
            while self.thread.is_alive():
                self._drain()
                self.thread.join(self.POLL_S)
                # again: an interrupt that came just before the engine started is lost
                with suppress(Exception):
                    self.session.interrupt()
        self.session.close()

    def _drain(self) -> None:
        try:
            while True:
                self.items.get_nowait()
        except queue.Empty:
            pass

    def _next(self):
        while True:
            try:
                item = self.items.get(timeout=self.POLL_S)
            except queue.Empty:
                if time.monotonic() > self.deadline:
                    self.cancel("timeout")
                    self.close()
                    raise self._timeout() from None
                if self.stop.is_set():  # cancelled: make sure the engine stops, then say so
                    self.close()
                    raise self._translate(self.failure or RuntimeError("stopped")) from None
                if not self.thread.is_alive() and self.items.empty():
                    raise self._translate(
                        self.failure or RuntimeError("the engine stopped without an answer")
                    ) from None
                continue
            except KeyboardInterrupt:
                self.cancel("cancelled")
                raise
            if isinstance(item, _Failure):
                raise self._translate(item.exc)
            if time.monotonic() > self.deadline and item is not _END:
                self.cancel("timeout")
                self.close()
                raise self._timeout()
            return item

    def _timeout(self) -> QueryTimeout:
        return QueryTimeout(
            f"查询超过 {self.timeout_s:g} 秒, 已取消 / the query ran longer than "
            f"{self.timeout_s:g} s and was cancelled; narrow it (WHERE, LIMIT) or raise "
            "sql.timeout_s"
        )

    def _put(self, item) -> bool:
        while not self.stop.is_set():
            try:
                self.items.put(item, timeout=self.POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _work(self) -> None:
        try:
            if self.stop.is_set():
                return
            if not self._put(self.session.start(self.text)):
                return
            for batch in self.session.batches():
                if not self._put(batch):
                    return
            self._put(_END)
        except BaseException as exc:  # handed to the caller's thread
            self.failure = exc
            self._put(_Failure(exc))

    def _translate(self, exc: BaseException) -> CareOpsError:
        if isinstance(exc, CareOpsError):
            return exc
        if self.reason == "timeout" or _is_timeout(exc):
            return self._timeout()
        if self.reason == "cancelled":
            return QueryCancelled("查询已取消 / query cancelled")
        message = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]
        if _is_permission(exc):
            return Forbidden(f"不允许的操作 / not allowed for analyst SQL: {message}")
        return ConfigError(f"查询失败 / query failed: {message}")


def _is_timeout(exc: BaseException) -> bool:
    sqlstate = getattr(exc, "sqlstate", None)
    return sqlstate == "57014" and "statement timeout" in str(exc)


def _is_permission(exc: BaseException) -> bool:
    name = type(exc).__name__
    sqlstate = getattr(exc, "sqlstate", None)
    return (
        name == "PermissionException"
        or sqlstate in ("42501", "25006")
        or "disabled by configuration" in str(exc)
        or "configuration has been locked" in str(exc)
    )
