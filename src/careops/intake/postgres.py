"""Events straight into a PostgreSQL warehouse: one transaction per group of requests.

Many service processes may write at once: rows go in with `ON CONFLICT (event_id) DO NOTHING`
in key order (two writers sharing ids wait on each other instead of deadlocking), each group
under its own `_load_id`; what another load stored before (the same id) is then compared with
what was sent: the same event is a duplicate, a different one a conflict. Committed means
durable (PostgreSQL's own WAL flush).
"""

from __future__ import annotations

import io

import pyarrow as pa
import pyarrow.csv as pacsv
from ibis.backends import BaseBackend

from careops.intake.journal import Appended

_COLS = '"event_id", "user_id", "ts", "name", "properties"'


def store(con: BaseBackend, rows: pa.Table, load_id: str) -> Appended:
    """Insert the canonical `events` rows whose id is new; compare the others with storage."""
    if not len(rows):
        return Appended(0, [], [])
    raw = con.con  # the driver connection of Ibis' PostgreSQL backend
    buf = io.BytesIO()
    pacsv.write_csv(
        rows.select(["event_id", "user_id", "ts", "name", "properties"]),
        buf,
        write_options=pacsv.WriteOptions(include_header=False),
    )
    with raw.transaction(), raw.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE _careops_intake (event_id text, user_id text, ts timestamptz, "
            "name text, properties text) ON COMMIT DROP"
        )
        with cur.copy(f"COPY _careops_intake ({_COLS}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(buf.getvalue())
        cur.execute(
            f'INSERT INTO "events" ({_COLS}, "_load_id") SELECT {_COLS}, %s '
            "FROM _careops_intake ORDER BY event_id ON CONFLICT (event_id) DO NOTHING",
            (load_id,),
        )
        inserted = cur.rowcount
        cur.execute(
            "SELECT s.event_id, e.user_id = s.user_id AND e.ts = s.ts AND e.name = s.name "
            "AND (e.properties IS NULL AND s.properties IS NULL "
            "OR e.properties::jsonb = s.properties::jsonb) "
            'FROM _careops_intake s JOIN "events" e USING (event_id) '
            'WHERE e."_load_id" IS DISTINCT FROM %s',
            (load_id,),
        )
        found = cur.fetchall()
    same = [e for e, equal in found if equal]
    different = [e for e, equal in found if not equal]
    return Appended(inserted, same, different)
