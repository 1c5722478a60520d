"""Experiment definitions and exposures in the state store (SQLite and PostgreSQL)."""

import datetime as dt
import json

import pytest

from careops.errors import AlreadyExists, ConfigError, Conflict, NotFound
from careops.experiments.definition import ExperimentDefinition
from careops.experiments.exposure import exposure_table
from careops.experiments.store import (
    delete_experiment,
    get_definition,
    list_definitions,
    log_exposures,
    read_exposures,
    save_definition,
    stop_experiment,
)
from careops.state import connect_state, migrate, read_audit

DEFINITION = {
    "key": "recall-coupon-2026",
    "name": "沉默召回优惠券",
    "variants": [{"name": "control", "weight": 0.5}, {"name": "coupon50", "weight": 0.5}],
    "start": "2026-01-01T00:00:00+00:00",
    "end": "2026-02-01T00:00:00+00:00",
    "primary_metrics": ["paid_conversion"],
    "guardrail_metrics": ["complaint_rate"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (
        f"sqlite:///{tmp_path / 'state.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("pg_database")()
    )
    eng = connect_state(url)
    migrate(eng)
    yield eng
    eng.dispose()


def test_definition_round_trips_and_is_audited(engine):
    definition = ExperimentDefinition.from_dict(DEFINITION)
    save_definition(
        engine, definition, known_metrics=["paid_conversion", "complaint_rate"], actor="ops-wang"
    )
    assert get_definition(engine, "recall-coupon-2026") == definition
    assert [d.key for d in list_definitions(engine)] == ["recall-coupon-2026"]
    [entry] = read_audit(engine)
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "ops-wang",
        "experiment.create",
        "recall-coupon-2026",
    )
    with pytest.raises(AlreadyExists, match="exists already"):
        save_definition(engine, definition)


def test_unknown_metric_and_unknown_key(engine):
    definition = ExperimentDefinition.from_dict({**DEFINITION, "primary_metrics": ["paid_conv"]})
    with pytest.raises(ConfigError, match="paid_conv"):
        save_definition(engine, definition, known_metrics=["paid_conversion"])
    with pytest.raises(NotFound, match="no experiment 'nope'; known: none"):
        get_definition(engine, "nope")


def test_first_exposure_per_user_wins(engine):
    definition = ExperimentDefinition.from_dict(DEFINITION)
    save_definition(engine, definition)
    users = [f"u{i}" for i in range(1000)]
    first = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    rows = exposure_table(definition, users, first)
    assert 900 < len(rows) < 1000  # the 5 % global control group gets no exposure
    assert log_exposures(engine, rows) == len(rows)
    later = exposure_table(definition, users[:100], first + dt.timedelta(days=3))
    assert log_exposures(engine, later) == 0
    stored = read_exposures(engine, definition.key)
    assert len(stored) == len(rows)
    assert set(stored["exposed_at"].to_pylist()) == {first}
    # the stored variant is the deterministic assignment
    assert dict(
        zip(stored["user_id"].to_pylist(), stored["variant"].to_pylist(), strict=True)
    ) == dict(zip(rows["user_id"].to_pylist(), rows["variant"].to_pylist(), strict=True))


def test_cli_create_and_list(tmp_path, run_cli):
    path = tmp_path / "exp.yaml"
    path.write_text(json.dumps(DEFINITION, ensure_ascii=False), encoding="utf-8")
    state = f"sqlite:///{tmp_path / 's.db'}"
    code, out, err = run_cli("experiment", "create", path, "--state", state)
    assert code == 0, err
    assert "recall-coupon-2026" in out
    code, out, _ = run_cli("experiment", "list", "--state", state, "--json")
    assert json.loads(out)[0]["variants"][1] == {"name": "coupon50", "weight": 0.5}
    code, _, err = run_cli("experiment", "create", path, "--state", state)
    assert code == 2 and "exists already" in err


def test_stop_ends_a_running_experiment_now_and_is_audited(engine):
    save_definition(engine, ExperimentDefinition.from_dict(DEFINITION))
    now = dt.datetime(2026, 1, 20, 3, 30, tzinfo=dt.UTC)
    stopped = stop_experiment(engine, "recall-coupon-2026", now=now, actor="ops-li")
    assert stopped.end == now and get_definition(engine, "recall-coupon-2026").end == now
    entry = read_audit(engine)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "ops-li",
        "experiment.stop",
        "recall-coupon-2026",
    )
    assert entry["detail"] == {"end": now.isoformat(), "planned_end": "2026-02-01T00:00:00+00:00"}
    with pytest.raises(Conflict, match=r"ended already \(end 2026-01-20 11:30 Asia/Shanghai\)"):
        stop_experiment(engine, "recall-coupon-2026", now=now + dt.timedelta(hours=1))
    with pytest.raises(Conflict, match=r"has not started .*delete it instead"):
        stop_experiment(engine, "recall-coupon-2026", now=dt.datetime(2025, 12, 1, tzinfo=dt.UTC))
    with pytest.raises(NotFound, match="no experiment 'nope'"):
        stop_experiment(engine, "nope")


def test_delete_only_without_exposures_and_is_audited(engine):
    definition = ExperimentDefinition.from_dict(DEFINITION)
    save_definition(engine, definition)
    log_exposures(
        engine,
        exposure_table(definition, ["u1", "u2", "u3"], dt.datetime(2026, 1, 5, tzinfo=dt.UTC)),
    )
    with pytest.raises(Conflict, match=r"has 3 exposed user.*stop it instead"):
        delete_experiment(engine, definition.key)
    other = ExperimentDefinition.from_dict({**DEFINITION, "key": "typo-test"})
    save_definition(engine, other)
    delete_experiment(engine, "typo-test", actor="ops-li")
    assert [d.key for d in list_definitions(engine)] == ["recall-coupon-2026"]
    entry = read_audit(engine)[0]
    assert (entry["action"], entry["target"], entry["detail"]["key"]) == (
        "experiment.delete",
        "typo-test",
        "typo-test",
    )
    save_definition(engine, other)  # the key is free again


def test_cli_segment_must_be_saved_or_a_valid_rule(tmp_path, run_cli):
    warehouse = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = run_cli(
        "segment",
        "save",
        "silent-chronic",
        "--where",
        'lifecycle == "silent" and chronic',
        "-w",
        warehouse,
        "--state",
        state,
    )
    assert code == 0, err

    def create(key, segment):
        path = tmp_path / f"{key}.yaml"
        path.write_text(
            json.dumps({**DEFINITION, "key": key, "segment": segment}, ensure_ascii=False),
            encoding="utf-8",
        )
        return run_cli("experiment", "create", path, "--state", state, "-w", warehouse)

    code, _, err = create("bad", "不存在的人群")
    assert code == 2
    assert "segment '不存在的人群' is neither a saved segment nor a valid rule" in err
    assert "saved segments: silent-chronic" in err
    code, _, err = create("bad2", 'lifecycle == "sleeping"')
    assert code == 2 and "'sleeping' is not a value of tag 'lifecycle'" in err
    code, out, err = create("saved", "silent-chronic")
    assert code == 0, err
    assert "silent-chronic" in out
    code, _, err = create("rule", 'lifecycle == "silent"')
    assert code == 0, err
    code, out, _ = run_cli("experiment", "list", "--state", state, "--json")
    assert [r["key"] for r in json.loads(out)] == ["rule", "saved"]


def test_cli_list_stop_delete_in_hospital_time(tmp_path, run_cli):
    state = f"sqlite:///{tmp_path / 's.db'}"
    now = dt.datetime.now(dt.UTC)
    running = {**DEFINITION, "key": "running", "start": "2026-01-05", "end": None}
    later = {
        **DEFINITION,
        "key": "later",
        "start": str((now + dt.timedelta(days=30)).date()),
        "end": None,
    }
    for definition in (running, later):
        path = tmp_path / f"{definition['key']}.yaml"
        path.write_text(json.dumps(definition), encoding="utf-8")
        assert run_cli("experiment", "create", path, "--state", state)[0] == 0
    code, out, _ = run_cli("experiment", "list", "--state", state)
    assert code == 0
    assert "Asia/Shanghai" in out and "2026-01-05 00:00" in out and "2026-01-04" not in out
    assert "进行中" in out and "未开始" in out and "不限" in out
    code, out, _ = run_cli("experiment", "list", "--state", state, "--json")
    assert json.loads(out)[1]["start"] == "2026-01-05T00:00:00+08:00"
    code, out, err = run_cli("experiment", "stop", "running", "--state", state)
    assert code == 0, err
    assert "实验已停止" in out and "已记入审计日志" in out
    code, out, _ = run_cli("experiment", "list", "--state", state, "--lang", "en")
    assert "ended" in out and "not started" in out
    code, _, err = run_cli("experiment", "stop", "later", "--state", state)
    assert code == 3 and "has not started" in err
    code, out, err = run_cli("experiment", "delete", "later", "--state", state)
    assert code == 0, err
    code, out, _ = run_cli("experiment", "list", "--state", state, "--json")
    assert [r["key"] for r in json.loads(out)] == ["running"]
    assert [e["action"] for e in read_audit(connect_state(state), limit=4)] == [
        "experiment.delete",
        "experiment.stop",
        "experiment.create",
        "experiment.create",
    ]
