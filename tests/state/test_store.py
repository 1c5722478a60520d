import pytest
import sqlalchemy as sa

from careops.errors import ConfigError
from careops.state import audit, connect_state, migrate, read_audit
from careops.state.store import MIGRATIONS


def head_revision() -> str:
    """The newest migration (every store ends at it)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


HEAD = head_revision()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")()


def test_migrate_is_idempotent_and_audit_reads_back(state_url):
    engine = connect_state(state_url)
    assert migrate(engine) == HEAD
    assert migrate(engine) == HEAD
    audit(engine, "ingest", target="orders.csv", detail={"loaded": 3}, actor="ops-zhang")
    audit(engine, "export", target="segment:insomnia", actor="ops-li")
    rows = read_audit(engine)
    assert [(r["actor"], r["action"], r["target"]) for r in rows] == [
        ("ops-li", "export", "segment:insomnia"),
        ("ops-zhang", "ingest", "orders.csv"),
    ]
    assert rows[1]["detail"] == {"loaded": 3}
    assert sa.inspect(engine).has_table("audit_log")
    engine.dispose()


def test_bad_url():
    with pytest.raises(ConfigError, match="state-store URL"):
        connect_state("nosuch://x")


def test_ingest_writes_the_audit_trail(tmp_path, run_cli):
    (tmp_path / "patients.csv").write_text("user_id,registered_at\nu1,2024-01-01\n")
    state = f"sqlite:///{tmp_path / 's.db'}"
    code, _, _ = run_cli(
        "ingest",
        tmp_path / "patients.csv",
        "-w",
        f"duckdb:///{tmp_path / 'w.duckdb'}",
        "--state",
        state,
    )
    assert code == 0
    [row] = read_audit(connect_state(state))
    assert row["action"] == "ingest" and row["detail"]["status"] == "loaded"


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_two_processes_migrating_a_new_state_store_at_once_both_succeed(
    backend, tmp_path, pg_database
):
    """Found by the concurrency tests: the second process crashed on 'table audit_log already
    exists' when both created a new store at the same moment."""
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path}/state.db" if backend == "sqlite" else pg_database()
    code = (
        "import sys; from careops.state import connect_state, migrate; "
        "print(migrate(connect_state(sys.argv[1])))"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, url],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0] * 4, [err for _, err in results]
    assert len({out.strip() for out, _ in results}) == 1


def test_0003_upgrades_a_store_with_experiments_and_keeps_them(state_url):
    """A state store at 0002 (experiments, exposures) gains the saved-segment tables; its rows
    stay."""
    from alembic import command
    from alembic.config import Config

    from careops.state.store import MIGRATIONS

    engine = connect_state(state_url)
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0002")
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO experiments (key, definition, created_at, created_by) VALUES "
            "('e1', '{}', '2026-01-01 00:00:00+00:00', 'os:x')"
        )
    assert not sa.inspect(engine).has_table("saved_segments")
    assert migrate(engine) == HEAD
    inspector = sa.inspect(engine)
    assert {"saved_segments", "saved_segment_versions", "carried_over"} <= set(
        inspector.get_table_names()
    )
    with engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT key FROM experiments").scalars().all() == ["e1"]
    engine.dispose()
