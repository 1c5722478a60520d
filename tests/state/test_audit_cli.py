"""`careops audit list|verify`: filters, JSON, exit codes naming the broken row."""

from __future__ import annotations

import json

from careops.state import audit, connect_state, migrate
from careops.state.models import audit_log


def _store(tmp_path):
    url = f"sqlite:///{tmp_path / 'state.db'}"
    engine = connect_state(url)
    migrate(engine)
    return url, engine


def test_list_filters_and_prints_json(tmp_path, run_cli):
    url, engine = _store(tmp_path)
    audit(engine, "patient.read", "patient:p1", actor="user:zhang")
    audit(engine, "patient.erase", "patient:[red]x[/]", actor="user:admin")
    code, out, err = run_cli("audit", "list", "--state", url, "--action", "patient.read", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["total"] == 1 and data["items"][0]["actor"] == "user:zhang"
    code, out, _ = run_cli("audit", "list", "--state", url, "--since", "2020-01-01")
    assert code == 0 and "(3/3)" in out  # two entries and the first listing itself
    code, out, _ = run_cli("audit", "list", "--state", url, "--until", "2020-01-01", "--json")
    assert json.loads(out)["total"] == 0


def test_a_bad_time_is_a_clear_error(tmp_path, run_cli):
    url, _ = _store(tmp_path)
    code, _, err = run_cli("audit", "list", "--state", url, "--since", "last week")
    assert code == 2 and "--since" in err and "Traceback" not in err


def test_verify_exits_0_when_intact_and_1_naming_the_row(tmp_path, run_cli):
    url, engine = _store(tmp_path)
    for i in range(3):
        audit(engine, "patient.read", f"patient:p{i}", actor="user:zhang")
    code, out, _ = run_cli("audit", "verify", "--state", url)
    assert code == 0 and "intact" in out
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        conn.execute(audit_log.delete().where(audit_log.c.id == 2))
    code, out, _ = run_cli("audit", "verify", "--state", url)
    assert code == 1 and "#3" in out and "broken" in out
    code, out, _ = run_cli("audit", "verify", "--state", url, "--json")
    assert code == 1 and json.loads(out)["broken_id"] == 3
