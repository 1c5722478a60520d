"""The intake journal of an embedded warehouse: events are durable here before they are
answered, and the service's writer moves them into the warehouse in bulk.

DuckDB lets one process write its file, and a write per request would hold it all the time;
so accepted events go to this append-only SQLite file beside the warehouse (WAL, synchronous
FULL: committed means fsync'd), which also remembers every event_id it took (idempotency).
`flush_journal` (careops.intake.service) appends the rows past the flushed mark to `events` in
one warehouse transaction, recorded in the `_loads` ledger, then moves the mark; a crash
between the two re-sends rows the warehouse already has, which its loader skips by key.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.compute as pc

from careops.config import Settings
from careops.schema import TABLES

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL UNIQUE,
    user_id TEXT NOT NULL,
    ts INTEGER NOT NULL,           -- microseconds since 1970-01-01 UTC
    name TEXT NOT NULL,
    properties TEXT,
    received_at INTEGER NOT NULL   -- microseconds since 1970-01-01 UTC
);
CREATE INDEX IF NOT EXISTS events_received ON events (received_at);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


def journal_path(warehouse_url: str, settings: Settings) -> Path | None:
    """Where the journal of `warehouse_url` lives; None for PostgreSQL (events go straight in)
    and for an in-memory DuckDB (no file to sit beside)."""
    if settings.intake.journal:
        return Path(settings.intake.journal)
    scheme = urlparse(warehouse_url).scheme.lower()
    if scheme in ("postgresql", "postgres"):
        return None
    if scheme == "duckdb":
        from careops.warehouse.connect import duckdb_path

        path = duckdb_path(warehouse_url)
        if path in ("", ":memory:"):
            return None
        p = Path(path)
        return p.with_name(p.stem + ".intake.db")
    return Path(settings.spark.warehouse_dir) / "intake.db"


@dataclass(frozen=True)
class Appended:
    """What one append stored: how many new, which ids were there already with the same
    content, and which with different content."""

    inserted: int
    same: list[str]
    different: list[str]


class Journal:
    """One journal file, shared by the threads of a process (one lock, one connection)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a commit is on disk before we answer
        self._db.execute("PRAGMA busy_timeout=10000")
        self._db.executescript(_SCHEMA)
        self._db.execute(
            "INSERT OR IGNORE INTO meta VALUES ('id', ?), ('flushed', '0')", (uuid.uuid4().hex,)
        )
        self.id = self._meta("id")

    def _meta(self, key: str) -> str:
        return self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

    def append(self, rows: pa.Table) -> Appended:
        """Store the canonical `events` rows whose event_id is new, in one durable commit."""
        if not len(rows):
            return Appended(0, [], [])
        ids = rows["event_id"].to_pylist()
        mine = list(
            zip(
                ids,
                rows["user_id"].to_pylist(),
                pc.cast(rows["ts"], pa.int64()).to_pylist(),
                rows["name"].to_pylist(),
                rows["properties"].to_pylist(),
                strict=True,
            )
        )
        now = int(dt.datetime.now(dt.UTC).timestamp() * 1_000_000)
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = {
                    r[0]: r
                    for r in self._db.execute(
                        "SELECT event_id, user_id, ts, name, properties FROM events "
                        "WHERE event_id IN (SELECT value FROM json_each(?))",
                        (json.dumps(ids),),
                    )
                }
                new = [(*r, now) for r in mine if r[0] not in stored]
                self._db.executemany(
                    "INSERT INTO events (event_id, user_id, ts, name, properties, received_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    new,
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        same, different = [], []
        for r in mine:
            old = stored.get(r[0])
            if old is not None:
                (same if _same(old, r) else different).append(r[0])
        return Appended(len(new), same, different)

    def pending(self, limit: int) -> tuple[pa.Table, int, int]:
        """Up to `limit` rows not yet flushed, as canonical `events` rows, with the first and
        last sequence numbers they span (0, 0 when none)."""
        with self._lock:
            mark = int(self._meta("flushed"))
            rows = self._db.execute(
                "SELECT seq, event_id, user_id, ts, name, properties FROM events "
                "WHERE seq > ? ORDER BY seq LIMIT ?",
                (mark, limit),
            ).fetchall()
        schema = TABLES["events"].arrow_schema()
        if not rows:
            return schema.empty_table(), 0, 0
        cols = list(zip(*rows, strict=True))
        table = pa.table(
            {
                "event_id": pa.array(cols[1], pa.string()),
                "user_id": pa.array(cols[2], pa.string()),
                "ts": pa.array(cols[3], pa.int64()).cast(pa.timestamp("us", tz="UTC")),
                "name": pa.array(cols[4], pa.string()),
                "properties": pa.array(cols[5], pa.string()),
            }
        ).cast(schema)
        return table, cols[0][0], cols[0][-1]

    def mark_flushed(self, seq: int) -> None:
        """Everything up to `seq` is in the warehouse."""
        with self._lock:
            self._db.execute(
                "UPDATE meta SET value = ? WHERE key = 'flushed' AND CAST(value AS INTEGER) < ?",
                (str(seq), seq),
            )

    def prune(self, older_than: dt.datetime) -> int:
        """Forget flushed events received before `older_than`; return how many."""
        cutoff = int(older_than.timestamp() * 1_000_000)
        with self._lock:
            mark = int(self._meta("flushed"))
            gone = self._db.execute(
                "DELETE FROM events WHERE seq <= ? AND received_at < ?", (mark, cutoff)
            )
            return gone.rowcount

    def forget_user(self, user_id: str) -> int:
        """Remove every event of patient `user_id`, flushed or not (erasure); return how many."""
        with self._lock:
            return self._db.execute("DELETE FROM events WHERE user_id = ?", (user_id,)).rowcount

    def backlog(self) -> int:
        """Events accepted and not yet in the warehouse."""
        with self._lock:
            mark = int(self._meta("flushed"))
            found = self._db.execute("SELECT count(*) FROM events WHERE seq > ?", (mark,))
            return int(found.fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _same(old: tuple, new: tuple) -> bool:
    """Whether a stored event and a re-sent one are the same event (properties as JSON)."""
    if old[1:4] != new[1:4]:
        return False
    if old[4] == new[4]:
        return True
    try:
        return json.loads(old[4] or "null") == json.loads(new[4] or "null")
    except ValueError:
        return False


_JOURNALS: dict[Path, Journal] = {}
_OPENING = threading.Lock()


def journal(path: Path) -> Journal:
    """The process' journal at `path` (opened once)."""
    key = path.resolve()
    with _OPENING:
        j = _JOURNALS.get(key)
        if j is None:
            j = _JOURNALS[key] = Journal(path)
        return j


def close_journal(path: Path) -> None:
    """Close the process' journal at `path` (the service stopped)."""
    with _OPENING:
        j = _JOURNALS.pop(path.resolve(), None)
    if j is not None:
        j.close()
