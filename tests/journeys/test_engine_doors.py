"""The engine's doors under hostile input (replay bounds, export paths, measurement window,
dry-run dates) and the live worker job on the wall clock."""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from careops.errors import CareOpsError, InvalidInput
from careops.journeys import store
from careops.journeys.clock import SimPeer, run
from careops.journeys.definition import load_file
from careops.journeys.measure import measure
from careops.journeys.sends import export
from careops.service import Ops
from tests.journeys.engine_fixtures import STORY, at, build, write

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture
def world(tmp_path):
    url = build(tmp_path / "wh.duckdb", ["u1"], [("u1", "signup_done", at(1, 2))])
    ops = Ops.open(warehouse=url, state=f"sqlite:///{tmp_path / 'state.db'}")
    return ops, load_file(write(tmp_path / "story.yaml", STORY)), tmp_path


@FUZZ
@given(
    start=st.datetimes(min_value=dt.datetime(1900, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    hours=st.integers(min_value=-(10**6), max_value=10**6),
    step_s=st.integers(min_value=-10, max_value=10**7),
    aware=st.booleans(),
)
def test_replay_bounds_are_refused_clearly_or_run(world, start, hours, step_s, aware):
    ops, journey, _ = world
    start = start.replace(tzinfo=dt.UTC) if aware else start
    try:
        end = start + dt.timedelta(hours=hours)
    except OverflowError:
        return
    step = dt.timedelta(seconds=step_s)
    invalid = not aware or hours < 0 or step_s <= 0 or hours * 3600 / step_s > 20_000
    if invalid:
        with pytest.raises(InvalidInput):
            run(ops, [journey], start, end, step=step, sender=SimPeer())
        return
    assume(hours <= 3 and step_s >= 3600)  # a valid replay: only short ones are run here
    report = run(ops, [journey], start, end, step=step, sender=SimPeer())
    assert report.ticks == hours * 3600 // step_s + 1


@FUZZ
@given(name=st.text(min_size=1, max_size=40))
def test_export_refuses_anything_but_a_csv_file(world, name):
    ops, _, tmp = world
    target = tmp / "out" / name.replace("/", "_").replace("\x00", "_")
    if target.suffix.lower() == ".csv" and target.name.strip(".") and len(target.name) < 200:
        target.parent.mkdir(exist_ok=True)
        assert export(ops, target) == 0
        assert target.read_text(encoding="utf-8").startswith("user_id,journey,step,")
    else:
        with pytest.raises((InvalidInput, OSError)):
            export(ops, target)


@pytest.mark.parametrize("window", [0, -1, 366, 10**9])
def test_measure_refuses_a_window_out_of_range(world, window):
    ops, _, _ = world
    with pytest.raises(InvalidInput, match="1–365"):
        measure(ops, "t_story", window_days=window)


def test_a_dry_run_in_the_future_is_refused(world):
    from careops.journeys.preview import dry_run

    ops, journey, _ = world
    with pytest.raises(CareOpsError):
        dry_run(ops, journey, dt.date.today() + dt.timedelta(days=30))


def test_the_live_worker_job_enrols_from_events_after_its_first_check(tmp_path, monkeypatch):
    from careops.config import get_settings
    from careops.journeys.clock import live_tick
    from careops.warehouse import connect
    from tests.conftest import fill

    folder = tmp_path / "journeys"
    folder.mkdir()
    write(folder / "story.yaml", STORY)
    monkeypatch.setenv("CAREOPS_JOURNEYS__DIR", str(folder))
    get_settings.cache_clear()
    url = build(tmp_path / "wh.duckdb", ["u1", "u2"], [])
    ops = Ops.open(warehouse=url, state=f"sqlite:///{tmp_path / 'state.db'}")
    assert live_tick(ops).entered == 0  # the first check only sets the cursor
    import pyarrow as pa

    con = connect(url)
    now = dt.datetime.now(dt.UTC)
    fill(
        con,
        {
            "events": pa.table(
                {
                    "event_id": ["x1"],
                    "user_id": ["u1"],
                    "name": ["signup_done"],
                    "ts": pa.array([now], pa.timestamp("us", tz="UTC")),
                }
            )
        },
    )
    con.disconnect()
    report = live_tick(ops)
    assert report.entered == 1
    with ops.state.connect() as conn:
        rows = conn.execute(sa.select(store.decisions.c.user_id, store.decisions.c.action)).all()
    # sent or deferred (the wall clock may be in the quiet hours), decided either way
    assert [r.user_id for r in rows] == ["u1"] and rows[0].action in ("send", "defer")


def test_the_worker_command_runs_one_live_tick(run_cli, tmp_path, monkeypatch):
    folder = tmp_path / "journeys"
    folder.mkdir()
    write(folder / "story.yaml", STORY)
    monkeypatch.setenv("CAREOPS_JOURNEYS__DIR", str(folder))
    from careops.config import get_settings

    get_settings.cache_clear()
    url = build(tmp_path / "wh.duckdb", ["u1"], [])
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, out, err = run_cli("journeys", "worker", "--once", "--json", "-w", url, "--state", state)
    assert code == 0, err
    assert '"entered": 0' in out
    from careops.state.store import connect_state

    engine = connect_state(state)
    with engine.connect() as conn:  # the first tick set the trigger's cursor
        assert conn.execute(sa.select(store.cursors.c.journey)).scalars().all() == ["t_story"]
    engine.dispose()
