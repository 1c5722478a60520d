"""Experiments in the state store: definitions (create, stop, delete — each audited) and
exposures (first one per user wins)."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from typing import TYPE_CHECKING

import pyarrow as pa
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Engine

from careops.errors import ConfigError
from careops.experiments.definition import ExperimentDefinition, hospital_time
from careops.state.models import experiment_exposures, experiments
from careops.state.store import audit, whoami

if TYPE_CHECKING:
    from ibis.backends import BaseBackend


def save_definition(engine: Engine, definition: ExperimentDefinition,
                    known_metrics: list[str] | None = None, actor: str | None = None,
                    segments: BaseBackend | None = None) -> None:
    """Store a new experiment; its metrics must exist and its key must be new. With `segments`
    (the warehouse holding the saved segments) its segment must be saved there or a valid rule."""
    if known_metrics is not None:
        definition.check_metrics(known_metrics)
    if segments is not None and definition.segment is not None:
        from careops.experiments.targeting import check_segment

        check_segment(definition.key, definition.segment, segments)
    with engine.begin() as conn:
        if conn.execute(sa.select(experiments.c.key).where(
                experiments.c.key == definition.key)).first():
            raise ConfigError(f"experiment {definition.key!r} exists already; a running "
                              "experiment's design is not changed — use a new key")
        conn.execute(experiments.insert().values(
            key=definition.key, definition=definition.to_dict(),
            created_at=dt.datetime.now(dt.UTC), created_by=actor or whoami()))
    audit(engine, "experiment.create", target=definition.key, detail=definition.to_dict(),
          actor=actor)


def get_definition(engine: Engine, key: str) -> ExperimentDefinition:
    """The stored experiment `key`, or an error listing the known keys."""
    with engine.connect() as conn:
        row = conn.execute(sa.select(experiments.c.definition).where(
            experiments.c.key == key)).first()
        if row is None:
            known = [r[0] for r in conn.execute(sa.select(experiments.c.key))]
            raise ConfigError(f"no experiment {key!r}; known: {', '.join(known) or 'none'}")
    return ExperimentDefinition.from_dict(row[0])


def list_definitions(engine: Engine) -> list[ExperimentDefinition]:
    """Every stored experiment, by key."""
    with engine.connect() as conn:
        rows = conn.execute(sa.select(experiments.c.definition).order_by(experiments.c.key))
        return [ExperimentDefinition.from_dict(r[0]) for r in rows]


def stop_experiment(engine: Engine, key: str, now: dt.datetime | None = None,
                    actor: str | None = None) -> ExperimentDefinition:
    """End a running experiment now: its `end` becomes `now` (UTC), audited. Returns the new
    definition; an experiment not started yet or already ended is refused."""
    now = now or dt.datetime.now(dt.UTC)
    definition = get_definition(engine, key)
    if definition.start is not None and now <= definition.start:
        raise ConfigError(f"experiment {key!r} has not started (start "
                          f"{hospital_time(definition.start)}); nothing to stop — delete it "
                          f"instead: careops experiment delete {key}")
    if definition.end is not None and definition.end <= now:
        raise ConfigError(f"experiment {key!r} ended already (end "
                          f"{hospital_time(definition.end)})")
    stopped = replace(definition, end=now)
    with engine.begin() as conn:
        conn.execute(experiments.update().where(experiments.c.key == key).values(
            definition=stopped.to_dict()))
    audit(engine, "experiment.stop", target=key, actor=actor,
          detail={"end": stopped.to_dict()["end"], "planned_end": definition.to_dict()["end"]})
    return stopped


def delete_experiment(engine: Engine, key: str, actor: str | None = None) -> None:
    """Remove an experiment nobody has been exposed to (a test or a mistake), audited; one with
    exposures is kept: stop it instead."""
    definition = get_definition(engine, key)
    with engine.begin() as conn:
        exposed = conn.execute(sa.select(sa.func.count()).select_from(experiment_exposures).where(
            experiment_exposures.c.experiment_key == key)).scalar()
        if exposed:
            raise ConfigError(f"experiment {key!r} has {exposed:,} exposed user(s); its data "
                              f"is kept — stop it instead: careops experiment stop {key}")
        conn.execute(experiments.delete().where(experiments.c.key == key))
    audit(engine, "experiment.delete", target=key, detail=definition.to_dict(), actor=actor)


def log_exposures(engine: Engine, exposures: pa.Table) -> int:
    """Persist exposure rows (`exposure_table`); a user's first exposure is kept. Returns new."""
    if not len(exposures):
        return 0
    insert = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}.get(engine.dialect.name)
    if insert is None:
        raise ConfigError(f"state store {engine.dialect.name} is not supported; "
                          "use sqlite or postgresql")
    rows = exposures.to_pylist()
    with engine.begin() as conn:
        before = conn.execute(sa.select(sa.func.count()).select_from(experiment_exposures)).scalar()
        for start in range(0, len(rows), 10_000):
            conn.execute(insert(experiment_exposures).on_conflict_do_nothing(),
                         rows[start:start + 10_000])
        after = conn.execute(sa.select(sa.func.count()).select_from(experiment_exposures)).scalar()
    return int(after - before)


def read_exposures(engine: Engine, key: str) -> pa.Table:
    """An experiment's exposures as Arrow (experiment_key, user_id, variant, exposed_at)."""
    from careops.experiments.exposure import EXPOSURE_SCHEMA

    with engine.connect() as conn:
        rows = conn.execute(sa.select(experiment_exposures).where(
            experiment_exposures.c.experiment_key == key).order_by(
            experiment_exposures.c.user_id)).mappings().all()
    data = [dict(r) for r in rows]
    for r in data:  # SQLite returns naive datetimes: they were stored as UTC
        if r["exposed_at"].tzinfo is None:
            r["exposed_at"] = r["exposed_at"].replace(tzinfo=dt.UTC)
    return pa.Table.from_pylist(data, schema=EXPOSURE_SCHEMA)
