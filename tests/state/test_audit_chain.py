"""The audit trail's hash chain: every kind of tampering is found and named by row, concurrent
writers never fork it, rows from before the chain are legacy, not tampering (SQLite and
PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import itertools
import subprocess
import sys
import threading

import pytest
import sqlalchemy as sa

from careops.state import audit, connect_state, migrate
from careops.state.audit_trail import AuditFilter, list_audit, verify_chain
from careops.state.models import audit_log
from careops.state.store import GENESIS, row_hash


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")()


@pytest.fixture
def engine(state_url):
    engine = connect_state(state_url)
    migrate(engine)
    yield engine
    engine.dispose()


def _write(engine, n: int, actor: str = "user:zhang") -> None:
    for i in range(n):
        audit(
            engine, "patient.read", target=f"patient:p{i}", detail={"i": i, "f": ["a"]}, actor=actor
        )


def _tamper(engine, *statements: str) -> None:
    """What someone with the table owner's rights does: switch the guard off, then edit."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_delete")
        for s in statements:
            conn.exec_driver_sql(s)


def test_an_untouched_chain_verifies_and_links_every_row(engine):
    _write(engine, 5)
    v = verify_chain(engine)
    assert (v.ok, v.rows, v.chained, v.legacy, v.broken_id) == (True, 5, 5, 0, None)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(audit_log).order_by(audit_log.c.id)).mappings().all()
    assert rows[0]["prev_hash"] == GENESIS
    for before, row in itertools.pairwise(rows):
        assert row["prev_hash"] == before["hash"]
        assert row_hash(row) == row["hash"] and len(row["hash"]) == 64
    assert (v.head_id, v.head_hash) == (rows[-1]["id"], rows[-1]["hash"])


def test_an_empty_trail_verifies(engine):
    assert verify_chain(engine).ok


@pytest.mark.parametrize(
    "column, value",
    [
        ("actor", "'user:someone-else'"),
        ("action", "'login'"),
        ("target", "'patient:p9'"),
        ("detail", '\'{"i": 99, "f": ["a"]}\''),
        ("subject", "'p9'"),
        ("purpose", "'treatment'"),
        ("source_ip", "'10.0.0.9'"),
        ("request_id", "'forged'"),
        ("role", "'admin'"),
    ],
)
def test_an_edit_of_any_field_names_the_row(engine, column, value):
    _write(engine, 4)
    _tamper(engine, f"UPDATE audit_log SET {column} = {value} WHERE id = 3")
    v = verify_chain(engine)
    assert not v.ok and v.broken_id == 3 and "edited" in v.reason


def test_an_edited_time_is_found(engine):
    _write(engine, 3)
    with engine.begin() as conn:
        at = conn.execute(sa.select(audit_log.c.at).where(audit_log.c.id == 2)).scalar_one()
    later = at + dt.timedelta(seconds=1)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values(at=later))
    assert verify_chain(engine).broken_id == 2


def test_a_deleted_row_names_the_row_after_the_gap(engine):
    _write(engine, 5)
    _tamper(engine, "DELETE FROM audit_log WHERE id = 3")
    v = verify_chain(engine)
    assert not v.ok and v.broken_id == 4 and "deleted" in v.reason


def test_deleting_the_first_row_is_found(engine):
    _write(engine, 3)
    _tamper(engine, "DELETE FROM audit_log WHERE id = 1")
    v = verify_chain(engine)
    assert not v.ok and v.broken_id == 2 and "genesis" in v.reason


def test_reordered_rows_are_found(engine):
    """Swap two rows' contents (hashes and all): each is intact, but not where it was."""
    _write(engine, 4)
    cols = [c.name for c in audit_log.columns if c.name != "id"]
    with engine.connect() as conn:
        r2, r3 = (
            conn.execute(sa.select(audit_log).where(audit_log.c.id == i)).mappings().one()
            for i in (2, 3)
        )
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("ALTER TABLE audit_log DISABLE TRIGGER USER")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_log_no_update")
        conn.execute(audit_log.update().where(audit_log.c.id == 2).values({c: r3[c] for c in cols}))
        conn.execute(audit_log.update().where(audit_log.c.id == 3).values({c: r2[c] for c in cols}))
    v = verify_chain(engine)
    assert not v.ok and v.broken_id == 2 and "reordered" in v.reason


def test_truncating_the_tail_is_found_against_a_noted_head(engine):
    _write(engine, 4)
    noted = verify_chain(engine).head_hash
    assert verify_chain(engine, expect_head=noted).ok
    _tamper(engine, "DELETE FROM audit_log WHERE id = 4")
    assert verify_chain(engine).ok  # the chain alone cannot see a cut end…
    v = verify_chain(engine, expect_head=noted)
    assert not v.ok and "head" in v.reason  # …a noted head can


def test_legacy_rows_before_the_chain_are_counted_not_blamed(engine):
    with engine.begin() as conn:  # as written by a version without the chain
        for i in range(2):
            conn.execute(
                audit_log.insert().values(
                    at=dt.datetime(2025, 1, 1, tzinfo=dt.UTC), actor="os:old", action=f"old{i}"
                )
            )
    _write(engine, 3)
    v = verify_chain(engine)
    assert (v.ok, v.rows, v.chained, v.legacy) == (True, 5, 3, 2)


def test_a_hash_cleared_after_the_chain_began_is_tampering(engine):
    _write(engine, 3)
    _tamper(engine, "UPDATE audit_log SET hash = NULL, action = 'hidden' WHERE id = 2")
    v = verify_chain(engine)
    assert not v.ok and v.broken_id == 2 and "unchained" in v.reason


def test_the_application_cannot_update_or_delete_audit_rows(engine):
    _write(engine, 2)
    for statement in ("UPDATE audit_log SET action = 'x' WHERE id = 1", "DELETE FROM audit_log"):
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql(statement)
    if engine.dialect.name == "postgresql":
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("TRUNCATE audit_log")
    assert verify_chain(engine).rows == 2
    migrate(engine)  # the guard is installed again idempotently
    assert verify_chain(engine).ok


def test_a_rolled_back_change_takes_its_audit_row_with_it(engine):
    _write(engine, 2)
    from careops.state.store import write_audit

    with pytest.raises(RuntimeError), engine.begin() as conn:
        write_audit(conn, "segment.save", "segment:x", actor="user:li")
        raise RuntimeError("the change failed")
    _write(engine, 1)
    v = verify_chain(engine)
    assert v.ok and v.chained == 3


def test_values_longer_than_their_column_are_cut_and_still_verify(engine):
    audit(engine, "a" * 500, target="t" * 2000, detail={"x": float("nan")}, actor="u" * 300)
    v = verify_chain(engine)
    assert v.ok and v.chained == 1


def test_threads_writing_at_once_never_fork_the_chain(engine):
    n_threads, per_thread = 6, 15
    errors: list[BaseException] = []
    start = threading.Barrier(n_threads)

    def work(k: int) -> None:
        try:
            start.wait()
            _write(engine, per_thread, actor=f"user:t{k}")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    v = verify_chain(engine)
    assert v.ok and v.chained == n_threads * per_thread
    with engine.connect() as conn:
        prevs = conn.execute(sa.select(audit_log.c.prev_hash)).scalars().all()
    assert len(set(prevs)) == len(prevs)  # no two rows extend the same row


_WRITER = """
import sys
from careops.state import audit, connect_state
engine = connect_state(sys.argv[1])
for i in range(int(sys.argv[2])):
    audit(engine, "patient.read", target=f"p{i}", actor=f"user:{sys.argv[3]}")
"""


def test_processes_writing_at_once_never_fork_the_chain(engine, state_url):
    per_process = 25
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, state_url, str(per_process), f"proc{k}"],
            stderr=subprocess.PIPE,
            text=True,
        )
        for k in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    v = verify_chain(engine)
    assert v.ok and v.chained == 3 * per_process


def test_list_filters_and_pages(engine):
    _write(engine, 3, actor="user:zhang")
    audit(engine, "patient.erase", actor="user:admin")
    entries, total = list_audit(engine, AuditFilter(actor="user:zhang"), limit=2)
    assert total == 3 and [e.actor for e in entries] == ["user:zhang"] * 2
    assert entries[0].id > entries[1].id  # newest first
    entries, total = list_audit(engine, AuditFilter(action="patient.erase"))
    assert total == 1 and entries[0].at.tzinfo is not None
    now = dt.datetime.now(dt.UTC)
    assert list_audit(engine, AuditFilter(until=now - dt.timedelta(days=1)))[1] == 0
    assert list_audit(engine, AuditFilter(since=now - dt.timedelta(days=1)))[1] == 4
    _, total = list_audit(engine, offset=3)
    assert total == 4


def test_list_refuses_an_empty_window_and_bad_pages(engine):
    from careops.errors import InvalidInput

    now = dt.datetime.now(dt.UTC)
    with pytest.raises(InvalidInput, match="since"):
        AuditFilter(since=now, until=now)
    with pytest.raises(InvalidInput, match="limit"):
        list_audit(engine, limit=0)
