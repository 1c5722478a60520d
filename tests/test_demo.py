"""`careops demo`: simulates, ingests and summarises into a folder of its own — and never
deletes a folder it did not make, nor a demo warehouse someone has worked in since."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from careops.warehouse import warehouse

SMALL = ("--users", "120", "--days", "60")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    """One small demo, made once for the tests that only read it."""
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("demo") / "demo"
    r = subprocess.run(
        [sys.executable, "-m", "careops", "demo", *SMALL, "--dir", str(folder)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode == 0, r.stderr
    return folder, r.stdout


def test_demo_simulates_ingests_and_summarises(made):
    folder, out = made
    assert "患者画像" in out and "校准" in out and "导入结果" in out and "用户分层" in out
    with warehouse(f"duckdb:///{folder / 'warehouse.duckdb'}", read_only=True) as con:
        assert con.table("patients").count().execute() == 120
        assert con.table("quarantine").count().execute() == 0


def test_demo_marks_its_folder_and_keeps_its_state_beside_the_warehouse(made):
    import sqlalchemy as sa

    folder, _ = made
    marker = json.loads((folder / ".careops-demo").read_text(encoding="utf-8"))
    assert marker["state"] == "ready" and marker["loads"] and marker["audit_rows"] == 2
    engine = sa.create_engine(f"sqlite:///{folder / 'warehouse.state.db'}")
    with engine.connect() as conn:
        actions = conn.execute(sa.text("SELECT action FROM audit_log")).scalars().all()
    engine.dispose()
    assert actions == ["demo", "user.add"]  # the cockpit account of this demo


def test_demo_refuses_a_folder_of_unrelated_files(tmp_path, run_cli):
    folder = tmp_path / "thesis"
    (folder / "chapters").mkdir(parents=True)
    (folder / "draft.docx").write_bytes(b"years of work")
    (folder / "chapters" / "one.md").write_text("# one", encoding="utf-8")
    code, _, err = run_cli("demo", *SMALL, "--dir", folder)
    assert code == 2
    assert "不是空目录" in err and "not a demo folder made by CareOps" in err
    assert (folder / "draft.docx").read_bytes() == b"years of work"
    assert (folder / "chapters" / "one.md").exists()
    assert sorted(p.name for p in folder.iterdir()) == ["chapters", "draft.docx"]


def test_demo_refuses_a_file_in_place_of_the_folder(tmp_path, run_cli):
    path = tmp_path / "notes.txt"
    path.write_text("keep me", encoding="utf-8")
    code, _, _ = run_cli("demo", *SMALL, "--dir", path)
    assert code == 2 and path.read_text(encoding="utf-8") == "keep me"


def test_starting_over_removes_only_the_demos_own_entries(tmp_path):
    from careops.demo import prepare_folder

    folder = tmp_path / "demo"
    prepare_folder(folder, "sqlite:///:memory:")
    (folder / "simulation").mkdir()
    (folder / "simulation" / "patients.parquet").write_bytes(b"x")
    (folder / "my-report.html").write_text("mine", encoding="utf-8")
    prepare_folder(folder, "sqlite:///:memory:")
    assert sorted(p.name for p in folder.iterdir()) == [".careops-demo", "my-report.html"]


def test_a_demo_cut_short_is_started_over(made, tmp_path):
    """A demo interrupted before it finished (its marker still says "creating") is the demo's
    own half-made work: the next run clears it without asking."""
    import shutil

    from careops.demo import prepare_folder

    folder = tmp_path / "demo"
    shutil.copytree(made[0], folder)
    (folder / ".careops-demo").write_text('{"state": "creating"}', encoding="utf-8")
    prepare_folder(folder, f"sqlite:///{folder / 'warehouse.state.db'}")
    assert [p.name for p in folder.iterdir()] == [".careops-demo"]


def test_a_used_demo_warehouse_is_kept_unless_yes(made, tmp_path, run_cli):
    """Work done in the demo warehouse after the demo (here a tag snapshot of another day)
    blocks a new demo over it; --yes starts over."""
    import shutil

    from careops.tags.snapshot import store_snapshot

    folder = tmp_path / "demo"
    shutil.copytree(made[0], folder)
    with warehouse(f"duckdb:///{folder / 'warehouse.duckdb'}") as con:
        store_snapshot(con, dt.date(2025, 2, 1))
    code, _, err = run_cli("demo", *SMALL, "--dir", folder)
    assert code == 2
    assert "1 个标签快照" in err and "--yes" in err
    assert (folder / "warehouse.duckdb").exists()
    code, out, _ = run_cli("demo", *SMALL, "--dir", folder, "--yes")
    assert code == 0 and "用户分层" in out
    with warehouse(f"duckdb:///{folder / 'warehouse.duckdb'}", read_only=True) as con:
        assert not [
            t for t in con.list_tables() if t.startswith("tag_snapshot_") and "20250201" in t
        ]


def test_demo_use_counts_later_loads_audit_and_experiments(made, tmp_path):
    import shutil

    import sqlalchemy as sa

    from careops.demo import demo_use, read_marker

    folder = tmp_path / "demo"
    shutil.copytree(made[0], folder)
    state = f"sqlite:///{folder / 'warehouse.state.db'}"
    marker = read_marker(folder)
    assert marker is not None and not demo_use(folder, marker, state)
    engine = sa.create_engine(state)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO audit_log (at, actor, action, target, detail) VALUES "
                "(CURRENT_TIMESTAMP, 'os:a', 'sql', 'x', '{}')"
            )
        )
    engine.dispose()
    use = demo_use(folder, marker, state)
    assert use.audit == 1 and use.loads == 0 and bool(use)


def test_demo_ends_with_a_cockpit_login_that_works_for_this_demo_only(made):
    import re

    from careops.demo import warehouse_url
    from careops.identity.accounts import login
    from careops.service import Ops

    folder, stdout = made
    assert "careops serve" in stdout and "/cockpit/" in stdout
    found = re.search(r"demo-ops / ([A-Za-z0-9_-]{16})\b", stdout)
    assert found, stdout[-600:]
    ops = Ops.open(warehouse_url(folder), f"sqlite:///{folder / 'warehouse.state.db'}")
    try:
        assert login(ops, "demo-ops", found.group(1)).access_token
        from careops.errors import Unauthorized

        with pytest.raises(Unauthorized):
            login(ops, "demo-ops", "demo-ops")  # no known password
    finally:
        ops.close()
