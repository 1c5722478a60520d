"""The experiment service: typed records, audit rows in the transaction of the change, and
exposure logging that stays exact with two writers at once (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
import sqlalchemy as sa

from careops.errors import AlreadyExists, ConfigError, Conflict, NotFound
from careops.experiments import service
from careops.experiments.assign import in_global_control
from careops.experiments.records import ExperimentCreate, ExperimentPublic
from careops.service import Actor, Ops
from careops.state import read_audit
from careops.state.models import experiment_exposures, experiments

NOW = dt.datetime(2026, 1, 20, 3, 30, tzinfo=dt.UTC)
DEFINITION = {
    "key": "recall-coupon-2026",
    "name": "沉默召回优惠券",
    "variants": [{"name": "control", "weight": 0.5}, {"name": "coupon50", "weight": 0.5}],
    "start": "2026-01-01",
    "end": "2026-02-01",
    "primary_metrics": ["paid_conversion"],
    "guardrail_metrics": ["complaint_rate"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")()


def _ops(tmp_path, state_url, who="ops-wang") -> Ops:
    return Ops.open(f"duckdb:///{tmp_path / 'w.duckdb'}", state_url, actor=Actor(who, "user"))


@pytest.fixture
def ops(tmp_path, state_url):
    context = _ops(tmp_path, state_url)
    yield context
    context.close()


def test_records_keep_the_file_format_and_its_errors():
    record = ExperimentCreate.model_validate(DEFINITION)
    assert record.start == dt.datetime(2025, 12, 31, 16, tzinfo=dt.UTC)  # 00:00 hospital time
    assert record.control == "control"
    assert record.definition().to_dict() == record.to_json()
    with pytest.raises(ConfigError, match="unknown field primary; fields are key"):
        ExperimentCreate.model_validate({**DEFINITION, "primary": ["x"]})
    with pytest.raises(ConfigError, match=r"sum to 0\.9"):
        ExperimentCreate.model_validate({**DEFINITION, "variants": {"a": 0.5, "b": 0.4}})
    public = set(ExperimentPublic.model_fields)
    assert "created_by" not in public and {"status", "created_at"} <= public


def test_create_get_list_stop_delete_each_audited_by_the_actor(ops):
    created = service.create(ops, DEFINITION, now=NOW)
    assert created.experiment.status == "running" and created.warnings == ()
    assert service.get(ops, "recall-coupon-2026").created_by == "user:ops-wang"
    assert [e.key for e in service.list_experiments(ops, now=NOW)] == ["recall-coupon-2026"]
    with pytest.raises(AlreadyExists, match="exists already"):
        service.create(ops, DEFINITION, now=NOW)
    stopped = service.stop(ops, "recall-coupon-2026", now=NOW)
    assert stopped.end == NOW and stopped.status == "ended"
    with pytest.raises(Conflict, match="ended already"):
        service.stop(ops, "recall-coupon-2026", now=NOW)
    service.create(ops, {**DEFINITION, "key": "typo"}, now=NOW)
    service.delete(ops, "typo")
    with pytest.raises(NotFound, match="no experiment 'typo'"):
        service.get(ops, "typo")
    assert [(e["actor"], e["action"], e["target"]) for e in read_audit(ops.state)] == [
        ("user:ops-wang", "experiment.delete", "typo"),
        ("user:ops-wang", "experiment.create", "typo"),
        ("user:ops-wang", "experiment.stop", "recall-coupon-2026"),
        ("user:ops-wang", "experiment.create", "recall-coupon-2026"),
    ]


def test_a_window_already_over_is_created_with_a_warning(ops):
    created = service.create(ops, DEFINITION, now=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))
    assert created.warnings == ("window_over",) and created.experiment.status == "ended"


def test_a_failing_change_leaves_no_audit_row_and_a_failing_audit_no_change(ops):
    from tests.segments.test_saved import _refuse_audit

    service.create(ops, DEFINITION, now=NOW)
    service.expose(ops, "recall-coupon-2026", ["u1", "u2", "u3"], at=NOW)
    n = len(read_audit(ops.state))
    with pytest.raises(Conflict, match="exposed user"):
        service.delete(ops, "recall-coupon-2026")
    with pytest.raises(Conflict, match="has not started"):
        service.stop(ops, "recall-coupon-2026", now=dt.datetime(2025, 1, 1, tzinfo=dt.UTC))
    assert len(read_audit(ops.state)) == n
    _refuse_audit(ops.state)
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.create(ops, {**DEFINITION, "key": "unaudited"}, now=NOW)
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.stop(ops, "recall-coupon-2026", now=NOW)
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.expose(ops, "recall-coupon-2026", ["u4"], at=NOW)
    with ops.state.connect() as conn:
        assert conn.execute(sa.select(experiments.c.key)).scalars().all() == ["recall-coupon-2026"]
        assert conn.execute(
            sa.select(experiment_exposures.c.user_id).order_by(experiment_exposures.c.user_id)
        ).scalars().all() == ["u1", "u2", "u3"]
    assert service.get(ops, "recall-coupon-2026").definition.end == dt.datetime(
        2026, 1, 31, 16, tzinfo=dt.UTC
    )


def test_expose_assigns_once_and_skips_the_global_control(ops):
    service.create(ops, DEFINITION, now=NOW)
    users = [f"u{i}" for i in range(200)]
    first = service.expose(ops, "recall-coupon-2026", [*users, "u0"], at=NOW)
    assert [u.user_id for u in first.users] == users  # a repeated id once
    held = {u for u, h in zip(users, in_global_control(users), strict=True) if h}
    assert held and {u.user_id for u in first.users if u.outcome == "global_control"} == held
    assert first.count("exposed") == 200 - len(held)
    again = service.expose(ops, "recall-coupon-2026", users[:50], at=NOW + dt.timedelta(days=1))
    assert {u.outcome for u in again.users} <= {"already_exposed", "global_control"}
    assert {u.user_id: u.variant for u in again.users} == {
        u.user_id: u.variant for u in first.users[:50]
    }
    stored = service.read_exposures(ops, "recall-coupon-2026")
    assert set(stored["exposed_at"].to_pylist()) == {NOW}
    with pytest.raises(ConfigError, match="not running"):
        service.expose(ops, "recall-coupon-2026", ["u1"], at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC))


def test_two_writers_logging_overlapping_exposures_each_count_only_their_own(tmp_path, state_url):
    """Two threads, each with its own connection, expose overlapping users in small batches at
    the same time: every user is exposed exactly once and the counts add up exactly."""
    setup = _ops(tmp_path, state_url)
    service.create(setup, {**DEFINITION, "variants": {"a": 0.5, "b": 0.5}}, now=NOW)
    setup.close()
    users = [f"p{i:05d}" for i in range(3000)]
    shares = {"one": users[:2000], "two": users[1000:]}  # 1 000 users in both
    results: dict[str, list] = {name: [] for name in shares}
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(shares))

    def writer(name: str) -> None:
        context = _ops(tmp_path, state_url, who=name)
        try:
            context.state.dispose()  # migrated before the race
            barrier.wait()
            chunk = shares[name]
            for start in range(0, len(chunk), 100):
                results[name] += service.expose(
                    context, DEFINITION["key"], chunk[start : start + 100], at=NOW
                ).users
        except BaseException as exc:  # reported below
            errors.append(exc)
        finally:
            context.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in shares]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    exposed = [u.user_id for r in results.values() for u in r if u.outcome == "exposed"]
    held = sum(in_global_control(users))
    assert len(exposed) == len(set(exposed)) == len(users) - held
    check = _ops(tmp_path, state_url)
    stored = service.read_exposures(check, DEFINITION["key"])
    assert stored.num_rows == len(users) - held
    assert sorted(exposed) == sorted(stored["user_id"].to_pylist())
    both = {u.user_id: u.variant for r in results.values() for u in r if u.variant}
    assert both == dict(
        zip(stored["user_id"].to_pylist(), stored["variant"].to_pylist(), strict=True)
    )
    check.close()


def test_log_exposures_counts_only_its_own_rows_with_two_writers(tmp_path, state_url):
    """`store.log_exposures` from two threads, overlapping users, many small transactions: the
    counts returned add up to the rows stored (a count of the table before and after each
    insert would also count the other writer's rows committed in between)."""
    from careops.experiments.exposure import exposure_table
    from careops.experiments.store import log_exposures, read_exposures, save_definition
    from careops.state import connect_state, migrate

    engine = connect_state(state_url)
    migrate(engine)
    definition = ExperimentCreate.model_validate(DEFINITION).definition()
    save_definition(engine, definition)
    users = [f"p{i:05d}" for i in range(2000)]
    parts = [users[:1400], users[600:]]
    counts = [0, 0]
    barrier = threading.Barrier(2)

    def writer(i: int) -> None:
        own = connect_state(state_url)
        barrier.wait()
        for start in range(0, len(parts[i]), 50):
            rows = exposure_table(definition, parts[i][start : start + 50], NOW)
            counts[i] += log_exposures(own, rows)
        own.dispose()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    stored = read_exposures(engine, definition.key).num_rows
    assert stored == len(users) - sum(in_global_control(users))
    assert sum(counts) == stored
    engine.dispose()


def test_many_users_cross_the_batch_boundaries(ops):
    from careops.experiments import store

    service.create(ops, DEFINITION, now=NOW)
    users = [f"m{i:06d}" for i in range(store.BATCH * 2 + 7)]
    held = int(sum(in_global_control(users)))
    first = service.expose(ops, DEFINITION["key"], users, at=NOW)
    assert first.count("exposed") == len(users) - held
    again = service.expose(ops, DEFINITION["key"], users, at=NOW)
    assert again.count("already_exposed") == len(users) - held
    assert [u.variant for u in again.users] == [u.variant for u in first.users]


def test_a_sqlite_store_locked_by_another_writer_is_a_clear_conflict(tmp_path):
    """Another process holding the SQLite state store past its busy timeout (5 s) gets a
    Conflict saying so (exit code 3), not a driver traceback."""
    import sqlite3

    from careops.experiments.store import StateBusy

    state = f"sqlite:///{tmp_path / 'state.db'}"
    context = _ops(tmp_path, state)
    service.create(context, DEFINITION, now=NOW)
    holder = sqlite3.connect(tmp_path / "state.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StateBusy, match="locked by another writer") as caught:
            service.expose(context, DEFINITION["key"], ["u1"], at=NOW)
        assert caught.value.exit_code == 3
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert service.expose(context, DEFINITION["key"], ["u1"], at=NOW).users[0].variant
    context.close()
