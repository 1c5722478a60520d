"""Experiments in the state store: definitions and exposures.

The functions taking a `Connection` work inside the caller's transaction, so the service
(`careops.experiments.service`) writes the audit row in the same transaction as the change. The
functions taking an `Engine` are the same operations in a transaction of their own, audit
included (scripts and tests).

Exposures: the first one per (experiment, user) wins. They are written with
`INSERT … ON CONFLICT DO NOTHING … RETURNING` on that key, and the rows returned are the ones
inserted, so two writers logging overlapping users at once each count only their own new rows
(a count of the table before and after would count the other writer's rows too).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine

from careops.errors import AlreadyExists, Conflict, NotFound, Unavailable
from careops.experiments.definition import ExperimentDefinition, hospital_time
from careops.experiments.records import ExperimentCreate, ExperimentStored
from careops.state.models import experiment_exposures, experiments
from careops.state.store import whoami, write_audit

BATCH = 5_000
PG_BATCH = 50_000


class ExperimentNotFound(NotFound):
    """No experiment with that key."""


class StateBusy(Conflict):
    """Another process holds the (SQLite) state store for writing longer than we wait."""


# --- definitions, inside the caller's transaction ----------------------------------------------


def insert_experiment(
    conn: Connection, definition: ExperimentCreate, actor: str, now: dt.datetime | None = None
) -> ExperimentStored:
    """Store a new experiment; its key must be new (a running design is never changed)."""
    if conn.execute(
        sa.select(experiments.c.key).where(experiments.c.key == definition.key)
    ).first():
        raise AlreadyExists(
            f"实验 {definition.key!r} 已存在; 运行中的实验设计不能修改, 请换一个 key / experiment "
            f"{definition.key!r} exists already; a running "
            "experiment's design is not changed — use a new key"
        )
    stored = ExperimentStored(
        key=definition.key,
        definition=definition,
        created_at=now or dt.datetime.now(dt.UTC),
        created_by=actor,
    )
    conn.execute(
        experiments.insert().values(
            key=stored.key,
            definition=definition.to_json(),
            created_at=stored.created_at,
            created_by=actor,
        )
    )
    return stored


def _record(row: Any) -> ExperimentStored:
    return ExperimentStored(
        key=row.key,
        definition=ExperimentCreate.model_validate(row.definition),
        created_at=row.created_at,
        created_by=row.created_by,
    )


def fetch(conn: Connection, key: str, *, for_update: bool = False) -> ExperimentStored:
    """The stored experiment `key`, or an error listing the known keys."""
    query = sa.select(experiments).where(experiments.c.key == key)
    if for_update and conn.dialect.name == "postgresql":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        known = [
            r[0] for r in conn.execute(sa.select(experiments.c.key).order_by(experiments.c.key))
        ]
        raise ExperimentNotFound(
            f"没有实验 {key!r} (已有: {', '.join(known) or '无'}) / no experiment {key!r}; "
            f"known: {', '.join(known) or 'none'}"
        )
    return _record(row)


def fetch_all(conn: Connection) -> list[ExperimentStored]:
    """Every stored experiment, by key."""
    return [_record(r) for r in conn.execute(sa.select(experiments).order_by(experiments.c.key))]


def end_now(
    conn: Connection, key: str, now: dt.datetime
) -> tuple[ExperimentStored, ExperimentStored]:
    """End a running experiment at `now`; returns (before, after). An experiment not started
    yet (delete it instead) or already ended is refused."""
    before = fetch(conn, key, for_update=True)
    d = before.definition
    if d.start is not None and now <= d.start:
        raise Conflict(
            f"实验 {key!r} 尚未开始 (开始于 {hospital_time(d.start)}), 无需停止, 可以删除它 / "
            f"experiment {key!r} has not started (start {hospital_time(d.start)}); "
            f"nothing to stop — delete it instead: careops experiment delete {key}"
        )
    if d.end is not None and d.end <= now:
        raise Conflict(
            f"实验 {key!r} 已经结束 (结束于 {hospital_time(d.end)}) / experiment {key!r} ended "
            f"already (end {hospital_time(d.end)})"
        )
    stopped = ExperimentCreate.model_validate(d.model_dump() | {"end": now})
    conn.execute(
        experiments.update().where(experiments.c.key == key).values(definition=stopped.to_json())
    )
    return before, before.model_copy(update={"definition": stopped})


def remove(conn: Connection, key: str) -> ExperimentStored:
    """Remove an experiment nobody has been exposed to; one with exposures is kept."""
    stored = fetch(conn, key, for_update=True)
    exposed = count_exposures(conn, key)
    if exposed:
        raise Conflict(
            f"实验 {key!r} 已有 {exposed:,} 位曝光用户, 数据须保留, 请停止而不是删除 / "
            f"experiment {key!r} has {exposed:,} exposed user(s); its data is "
            f"kept — stop it instead: careops experiment stop {key}"
        )
    conn.execute(experiments.delete().where(experiments.c.key == key))
    return stored


def experiments_targeting(conn: Connection, segment: str) -> list[str]:
    """Keys of the stored experiments whose segment is the saved segment `segment`."""
    return [r.key for r in fetch_all(conn) if r.definition.segment == segment]


# --- exposures ---------------------------------------------------------------------------------


@contextmanager
def writing(engine: Engine) -> Iterator[Connection]:
    """A write transaction on the state store; a SQLite store another process keeps locked
    longer than its busy timeout is answered with `StateBusy`, not a driver traceback."""
    try:
        with engine.begin() as conn:
            yield conn
    except sa.exc.OperationalError as exc:
        if "locked" in str(exc.orig).lower() or "busy" in str(exc.orig).lower():
            raise StateBusy(
                "状态库正被另一个进程写入，请稍后重试 / the state store is locked by "
                "another writer; try again in a moment"
            ) from None
        raise


def _insert(conn: Connection):
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(conn.dialect.name)
    if insert is None:
        raise Unavailable(
            f"不支持 {conn.dialect.name} 状态库, 请用 sqlite 或 postgresql / state store "
            f"{conn.dialect.name} is not supported; use sqlite or postgresql"
        )
    return insert


def insert_exposures(conn: Connection, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Insert exposure rows (experiment_key, user_id, variant, exposed_at) whose (experiment,
    user) is new, inside `conn`'s transaction; returns the rows actually inserted (a user
    already exposed keeps their first exposure, also when another writer logged it a moment
    ago)."""
    if conn.dialect.name == "postgresql":
        return _insert_exposures_pg(conn, list(rows))
    c = experiment_exposures.c
    statement = (
        _insert(conn)(experiment_exposures)
        .on_conflict_do_nothing(index_elements=[c.experiment_key, c.user_id])
        .returning(c.user_id, c.variant)
    )
    rows = list(rows)
    inserted: list[dict[str, Any]] = []
    for start in range(0, len(rows), BATCH):
        # executemany with RETURNING: SQLAlchemy sends it as batched multi-row INSERTs
        # ("insertmanyvalues"), compiled once, and returns the rows the database inserted
        inserted += [dict(r._mapping) for r in conn.execute(statement, rows[start : start + BATCH])]
    return inserted


def _insert_exposures_pg(conn: Connection, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """PostgreSQL: each batch as four array parameters unnested into rows, so the statement
    stays small whatever the batch (a VALUES list of 100 000 rows is slow to build and parse)."""
    from sqlalchemy.dialects.postgresql import ARRAY

    c = experiment_exposures.c
    columns = ("experiment_key", "user_id", "variant", "exposed_at")
    types = (sa.String, sa.String, sa.String, sa.DateTime(timezone=True))
    inserted: list[dict[str, Any]] = []
    for start in range(0, len(rows), PG_BATCH):
        batch = rows[start : start + PG_BATCH]
        arrays = [
            sa.bindparam(f"a_{name}", [r[name] for r in batch], type_=ARRAY(kind))
            for name, kind in zip(columns, types, strict=True)
        ]
        source = sa.func.unnest(*arrays).table_valued(*columns).render_derived("x")
        statement = (
            postgresql.insert(experiment_exposures)
            .from_select(list(columns), sa.select(*(source.c[name] for name in columns)))
            .on_conflict_do_nothing(index_elements=[c.experiment_key, c.user_id])
            .returning(c.user_id, c.variant)
        )
        inserted += [dict(r._mapping) for r in conn.execute(statement)]
    return inserted


def count_exposures(conn: Connection, key: str) -> int:
    return int(
        conn.execute(
            sa.select(sa.func.count())
            .select_from(experiment_exposures)
            .where(experiment_exposures.c.experiment_key == key)
        ).scalar()
        or 0
    )


def exposed_variants(conn: Connection, key: str, users: list[str]) -> dict[str, str]:
    """user_id → stored variant of those of `users` already exposed to experiment `key`."""
    c = experiment_exposures.c
    found: dict[str, str] = {}
    pg = conn.dialect.name == "postgresql"
    size = PG_BATCH if pg else BATCH
    for start in range(0, len(users), size):
        chunk = users[start : start + size]
        if pg:  # one array parameter instead of one placeholder per user
            from sqlalchemy.dialects.postgresql import ARRAY

            match = c.user_id == sa.any_(sa.bindparam("users", chunk, type_=ARRAY(sa.String)))
        else:
            match = c.user_id.in_(chunk)
        found |= {
            r.user_id: r.variant
            for r in conn.execute(
                sa.select(c.user_id, c.variant).where(c.experiment_key == key, match)
            )
        }
    return found


def read_exposures(engine: Engine | Connection, key: str) -> pa.Table:
    """An experiment's exposures as Arrow (experiment_key, user_id, variant, exposed_at)."""
    from careops.experiments.exposure import EXPOSURE_SCHEMA

    query = (
        sa.select(experiment_exposures)
        .where(experiment_exposures.c.experiment_key == key)
        .order_by(experiment_exposures.c.user_id)
    )
    if isinstance(engine, Connection):
        rows = engine.execute(query).mappings().all()
    else:
        with engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
    data = [dict(r) for r in rows]
    for r in data:  # SQLite returns naive datetimes: they were stored as UTC
        if r["exposed_at"].tzinfo is None:
            r["exposed_at"] = r["exposed_at"].replace(tzinfo=dt.UTC)
    return pa.Table.from_pylist(data, schema=EXPOSURE_SCHEMA)


# --- the same, each in a transaction of its own (scripts, tests) -------------------------------


def save_definition(
    engine: Engine,
    definition: ExperimentDefinition,
    known_metrics: list[str] | None = None,
    actor: str | None = None,
) -> ExperimentStored:
    """Store a new experiment and its audit row in one transaction."""
    if known_metrics is not None:
        definition.check_metrics(known_metrics)
    record = ExperimentCreate.of(definition)
    with engine.begin() as conn:
        stored = insert_experiment(conn, record, actor or whoami())
        write_audit(conn, "experiment.create", definition.key, record.to_json(), actor)
    return stored


def get_definition(engine: Engine, key: str) -> ExperimentDefinition:
    """The stored experiment `key` as the domain value, or an error listing the known keys."""
    with engine.connect() as conn:
        return fetch(conn, key).definition.definition()


def list_definitions(engine: Engine) -> list[ExperimentDefinition]:
    """Every stored experiment, by key."""
    with engine.connect() as conn:
        return [r.definition.definition() for r in fetch_all(conn)]


def stop_experiment(
    engine: Engine, key: str, now: dt.datetime | None = None, actor: str | None = None
) -> ExperimentDefinition:
    """End a running experiment now, audited in the same transaction."""
    now = now or dt.datetime.now(dt.UTC)
    with engine.begin() as conn:
        before, after = end_now(conn, key, now)
        write_audit(conn, "experiment.stop", key, stop_detail(before, after), actor)
    return after.definition.definition()


def stop_detail(before: ExperimentStored, after: ExperimentStored) -> dict[str, Any]:
    return {
        "end": after.definition.to_json()["end"],
        "planned_end": before.definition.to_json()["end"],
    }


def delete_experiment(engine: Engine, key: str, actor: str | None = None) -> None:
    """Remove an experiment nobody was exposed to, audited in the same transaction."""
    with engine.begin() as conn:
        stored = remove(conn, key)
        write_audit(conn, "experiment.delete", key, stored.definition.to_json(), actor)


def log_exposures(engine: Engine, exposures: pa.Table) -> int:
    """Persist exposure rows (`exposure_table`); a user's first exposure is kept. Returns how
    many rows were new."""
    if not len(exposures):
        return 0
    with engine.begin() as conn:
        return len(insert_exposures(conn, exposures.to_pylist()))
