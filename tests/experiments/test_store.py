"""Experiment definitions and exposures in the state store (SQLite and PostgreSQL)."""

import datetime as dt
import json

import pytest

from careops.errors import ConfigError
from careops.experiments.definition import ExperimentDefinition
from careops.experiments.exposure import exposure_table
from careops.experiments.store import (
    get_definition,
    list_definitions,
    log_exposures,
    read_exposures,
    save_definition,
)
from careops.state import connect_state, migrate, read_audit

DEFINITION = {
    "key": "recall-coupon-2026", "name": "沉默召回优惠券",
    "variants": [{"name": "control", "weight": 0.5}, {"name": "coupon50", "weight": 0.5}],
    "start": "2026-01-01T00:00:00+00:00", "end": "2026-02-01T00:00:00+00:00",
    "primary_metrics": ["paid_conversion"], "guardrail_metrics": ["complaint_rate"],
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    url = (f"sqlite:///{tmp_path / 'state.db'}" if request.param == "sqlite"
           else request.getfixturevalue("pg_database")())
    eng = connect_state(url)
    migrate(eng)
    yield eng
    eng.dispose()


def test_definition_round_trips_and_is_audited(engine):
    definition = ExperimentDefinition.from_dict(DEFINITION)
    save_definition(engine, definition, known_metrics=["paid_conversion", "complaint_rate"],
                    actor="ops-wang")
    assert get_definition(engine, "recall-coupon-2026") == definition
    assert [d.key for d in list_definitions(engine)] == ["recall-coupon-2026"]
    [entry] = read_audit(engine)
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "ops-wang", "experiment.create", "recall-coupon-2026")
    with pytest.raises(ConfigError, match="exists already"):
        save_definition(engine, definition)


def test_unknown_metric_and_unknown_key(engine):
    definition = ExperimentDefinition.from_dict({**DEFINITION, "primary_metrics": ["paid_conv"]})
    with pytest.raises(ConfigError, match="paid_conv"):
        save_definition(engine, definition, known_metrics=["paid_conversion"])
    with pytest.raises(ConfigError, match="no experiment 'nope'; known: none"):
        get_definition(engine, "nope")


def test_first_exposure_per_user_wins(engine):
    definition = ExperimentDefinition.from_dict(DEFINITION)
    save_definition(engine, definition)
    users = [f"u{i}" for i in range(1000)]
    first = dt.datetime(2026, 1, 5, 2, 0, tzinfo=dt.UTC)
    rows = exposure_table(definition, users, first)
    assert 900 < len(rows) < 1000          # the 5 % global control group gets no exposure
    assert log_exposures(engine, rows) == len(rows)
    later = exposure_table(definition, users[:100], first + dt.timedelta(days=3))
    assert log_exposures(engine, later) == 0
    stored = read_exposures(engine, definition.key)
    assert len(stored) == len(rows)
    assert set(stored["exposed_at"].to_pylist()) == {first}
    # the stored variant is the deterministic assignment
    assert dict(zip(stored["user_id"].to_pylist(), stored["variant"].to_pylist(), strict=True)) \
        == dict(zip(rows["user_id"].to_pylist(), rows["variant"].to_pylist(), strict=True))


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
