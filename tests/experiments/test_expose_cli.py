"""Experiments end to end from the CLI: create → expose (or import exposures) → analyse."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow.parquet as pq
import pytest

from careops.experiments.assign import assign, in_global_control
from careops.experiments.definition import ExperimentDefinition
from careops.state import connect_state, read_audit
from careops.warehouse import connect, create_tables
from tests.conftest import fill
from tests.experiments import hand_built as hb
from tests.tags.hospital import Hospital

RUNNING = {
    "key": "sms-reminder",
    "variants": {"control": 0.5, "sms": 0.5},
    "start": "2026-01-01",
    "primary_metrics": ["paid_conversion"],
}


@pytest.fixture
def where(tmp_path):
    """A warehouse with two women and one man registered, and a state store beside it."""
    today = dt.datetime.now(dt.UTC).date()
    wh = f"duckdb:///{tmp_path / 'w.duckdb'}"
    con = connect(wh)
    create_tables(con)
    h = Hospital(today)
    h.patient("f1", sex="F").patient("f2", sex="F").patient("m1", sex="M")
    h.load(con)
    con.disconnect()
    return wh, f"sqlite:///{tmp_path / 'state.db'}"


def _create(run_cli, tmp_path, where, definition) -> tuple[int, str, str]:
    path = tmp_path / f"{definition['key']}.yaml"
    path.write_text(json.dumps(definition, ensure_ascii=False), encoding="utf-8")
    return run_cli("experiment", "create", path, "-w", where[0], "--state", where[1])


def test_expose_prints_each_user_s_variant_and_logs_once(run_cli, tmp_path, where):
    wh, state = where
    assert _create(run_cli, tmp_path, where, RUNNING)[0] == 0
    users = [f"u{i}" for i in range(40)]
    held = [u for u, h in zip(users, in_global_control(users), strict=True) if h]
    (tmp_path / "users.txt").write_text("\n".join(users[20:]) + "\n", encoding="utf-8")
    args = ["experiment", "expose", "sms-reminder", "-w", wh, "--state", state]
    code, out, err = run_cli(
        *args,
        *[x for u in users[:20] for x in ("--user", u)],
        "--users",
        tmp_path / "users.txt",
        "--json",
    )
    assert code == 0, err
    data = json.loads(out)
    definition = ExperimentDefinition.from_dict({**RUNNING})
    expected = dict(zip(users, assign(users, definition).to_pylist(), strict=True))
    got = {u["user_id"]: u for u in data["users"]}
    assert list(got) == users
    for u in users:
        if u in held:
            assert (got[u]["variant"], got[u]["outcome"]) == (None, "global_control")
        else:
            assert (got[u]["variant"], got[u]["outcome"]) == (expected[u], "exposed")
    code, out, err = run_cli(*args, "--user", users[0], "--user", "新用户")
    assert code == 0, err
    assert "此前已曝光" in out and "新用户" in out and "已曝光 1" in out
    assert read_audit(connect_state(state))[0]["action"] == "experiment.expose"
    code, _, err = run_cli(*args)
    assert code == 2 and "--user U1" in err
    code, _, err = run_cli(*args, "--user", " ")
    assert code == 2 and "user id number 1 is empty" in err


def test_expose_respects_the_targeting_segment(run_cli, tmp_path, where):
    wh, state = where
    code, _, err = run_cli(
        "segment", "save", "women", "--where", 'sex == "F"', "-w", wh, "--state", state
    )
    assert code == 0, err
    assert _create(run_cli, tmp_path, where, {**RUNNING, "segment": "women"})[0] == 0
    code, out, err = run_cli(
        "experiment",
        "expose",
        "sms-reminder",
        "--user",
        "f1",
        "--user",
        "m1",
        "--user",
        "f2",
        "--user",
        "nobody",
        "-w",
        wh,
        "--state",
        state,
        "--json",
    )
    assert code == 0, err
    outcome = {u["user_id"]: u["outcome"] for u in json.loads(out)["users"]}
    assert outcome["m1"] == outcome["nobody"] == "not_targeted"
    assert {outcome["f1"], outcome["f2"]} <= {"exposed", "global_control"}


def test_expose_outside_the_window_is_refused(run_cli, tmp_path, where):
    wh, state = where
    code, _, err = _create(run_cli, tmp_path, where, {**RUNNING, "end": "2026-02-01"})
    assert code == 0 and "提示" in err and "已过" in err  # created, with a warning
    code, _, err = run_cli(
        "experiment", "expose", "sms-reminder", "--user", "u1", "-w", wh, "--state", state
    )
    assert code == 2 and "not running" in err


def _hand_built(tmp_path) -> tuple[str, str]:
    wh = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(wh)
    create_tables(con)
    fill(con, hb.tables())
    con.disconnect()
    return wh, f"sqlite:///{tmp_path / 'state.db'}"


def _exposure_csv(path, rows) -> None:
    path.write_text(
        "user_id,variant,exposed_at\n" + "".join(f"{u},{v},{t}\n" for u, v, t in rows),
        encoding="utf-8",
    )


def _hb_rows():
    out = []
    for i, r in enumerate(hb.exposures().to_pylist()):
        at = r["exposed_at"]
        # half with an offset, half as hospital wall-clock time without one
        text = (
            at.isoformat()
            if i % 2
            else at.astimezone(dt.timezone(dt.timedelta(hours=8))).strftime("%Y-%m-%d %H:%M:%S")
        )
        out.append((r["user_id"], r["variant"], text))
    return out


def test_import_then_analyse_gives_the_known_answer(run_cli, tmp_path):
    wh, state = _hand_built(tmp_path)
    code, out, err = _create(run_cli, tmp_path, (wh, state), hb.DEFINITION.to_dict())
    assert code == 0, err
    assert "提示" in err  # the hand-built window ended in 2025
    rows = _hb_rows()
    _exposure_csv(tmp_path / "exp.csv", rows + rows[:3])  # a repeated row is harmless
    args = [
        "experiment",
        "import-exposures",
        hb.KEY,
        tmp_path / "exp.csv",
        "-w",
        wh,
        "--state",
        state,
    ]
    code, out, err = run_cli(*args, "--json")
    assert code == 0, err
    assert json.loads(out) == {
        "experiment": hb.KEY,
        "rows": 11,
        "inserted": 8,
        "already": 0,
        "by_variant": {"control": 4, "treat": 4},
    }
    code, out, err = run_cli(*args)  # twice: nothing new
    assert code == 0, err
    assert "新增曝光 0" in out and "此前已有 8" in out
    code, out, err = run_cli(
        "experiment",
        "analyze",
        "-e",
        hb.KEY,
        "--as-of",
        "2025-07-01",
        "--json",
        "--state",
        state,
        "-w",
        wh,
    )
    assert code == 0, err
    data = json.loads(out)
    assert data["exposed"] == {"control": 4, "treat": 4}
    arpu = next(m for m in data["metrics"] if m["name"] == "arpu")
    assert [v["mean"] for v in arpu["variants"]] == [32.5, 30.0]
    # the same answer as exposures logged through the store
    from careops.experiments.store import log_exposures, save_definition

    other = f"sqlite:///{tmp_path / 'logged.db'}"
    engine = connect_state(other)
    from careops.state import migrate

    migrate(engine)
    save_definition(engine, hb.DEFINITION)
    log_exposures(engine, hb.exposures())
    engine.dispose()
    code, logged, err = run_cli(
        "experiment",
        "analyze",
        "-e",
        hb.KEY,
        "--as-of",
        "2025-07-01",
        "--json",
        "--state",
        other,
        "-w",
        wh,
    )
    assert code == 0, err
    assert json.loads(logged) == data
    entry = read_audit(connect_state(state))[0]
    assert entry["action"] == "experiment.import_exposures" and entry["detail"]["inserted"] == 0


def test_import_parquet(run_cli, tmp_path):
    wh, state = _hand_built(tmp_path)
    assert _create(run_cli, tmp_path, (wh, state), hb.DEFINITION.to_dict())[0] == 0
    table = hb.exposures().select(["user_id", "variant", "exposed_at"])
    pq.write_table(table, tmp_path / "exp.parquet")
    code, out, err = run_cli(
        "experiment",
        "import-exposures",
        hb.KEY,
        tmp_path / "exp.parquet",
        "-w",
        wh,
        "--state",
        state,
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["inserted"] == 8


def test_a_bad_file_names_row_field_reason_and_imports_nothing(run_cli, tmp_path):
    wh, state = _hand_built(tmp_path)
    assert _create(run_cli, tmp_path, (wh, state), hb.DEFINITION.to_dict())[0] == 0
    good = _hb_rows()
    bad = [
        *good[:4],
        ("t9", "treatment", "2025-06-05T10:00:00+08:00"),  # line 6: unknown variant
        ("", "control", "2025-06-05T10:00:00+08:00"),  # line 7: empty id
        ("t8", "treat", "yesterday"),  # line 8: not a time
        ("t7", "treat", "2025-08-01T10:00:00+08:00"),  # line 9: after the end
        (good[0][0], "treat", good[0][2]),
    ]  # line 10: two variants
    _exposure_csv(tmp_path / "bad.csv", bad)
    args = [
        "experiment",
        "import-exposures",
        hb.KEY,
        tmp_path / "bad.csv",
        "-w",
        wh,
        "--state",
        state,
    ]
    code, _, err = run_cli(*args)
    assert code == 2
    for text in (
        "5 problem(s), nothing imported",
        "第 6 行 variant：未知组别 'treatment'",
        "row 6 variant: unknown variant 'treatment' (variants: control, treat)",
        "row 7 user_id: is empty",
        "row 8 exposed_at: 'yesterday' is not a date-time",
        "row 9 exposed_at: 2025-08-01T02:00:00+00:00 is outside",
        "row 10 variant: user 'c1' is 'control' in row 2 and 'treat' here",
    ):
        assert text in err, text
    assert "Traceback" not in err
    assert (
        connect_state(state)
        .connect()
        .exec_driver_sql("SELECT count(*) FROM experiment_exposures")
        .scalar()
        == 0
    )
    # a user already stored with another variant is refused too, naming the row
    _exposure_csv(tmp_path / "good.csv", good)
    assert run_cli(*args[:3], tmp_path / "good.csv", *args[4:])[0] == 0
    _exposure_csv(tmp_path / "flip.csv", [(good[0][0], "treat", good[0][2])])
    code, _, err = run_cli(*args[:3], tmp_path / "flip.csv", *args[4:])
    assert code == 2 and "row 2 variant: user 'c1' was already exposed to 'control'" in err
    (tmp_path / "cols.csv").write_text("user,variant\nc1,control\n", encoding="utf-8")
    code, _, err = run_cli(*args[:3], tmp_path / "cols.csv", *args[4:])
    assert code == 2 and "missing column(s) user_id, exposed_at" in err
    code, _, err = run_cli(*args[:3], tmp_path / "nope.csv", *args[4:])
    assert code == 2 and "does not exist" in err


def test_import_refuses_users_outside_the_targeting_segment(run_cli, tmp_path, where):
    wh, state = where
    code, _, err = run_cli(
        "segment", "save", "women", "--where", 'sex == "F"', "-w", wh, "--state", state
    )
    assert code == 0, err
    assert _create(run_cli, tmp_path, where, {**RUNNING, "segment": "women"})[0] == 0
    at = dt.datetime.now(dt.UTC).isoformat()
    args = ["experiment", "import-exposures", "sms-reminder", "-w", wh, "--state", state]
    _exposure_csv(
        tmp_path / "mixed.csv", [("f1", "sms", at), ("m1", "control", at), ("nobody", "sms", at)]
    )
    code, _, err = run_cli(*args, tmp_path / "mixed.csv")
    assert code == 2, err
    assert "2 problem(s), nothing imported" in err
    assert "row 3 user_id: user 'm1' is not in the experiment's segment 'women'" in err
    assert "第 4 行 user_id：用户 'nobody'" in err and "不属于实验的目标人群" in err
    assert "'f1'" not in err and "Traceback" not in err
    engine = connect_state(state)
    with engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT count(*) FROM experiment_exposures").scalar()
    assert stored == 0
    _exposure_csv(tmp_path / "women.csv", [("f1", "sms", at), ("f2", "control", at)])
    code, out, err = run_cli(*args, tmp_path / "women.csv", "--json")
    assert code == 0, err
    assert json.loads(out)["inserted"] == 2
