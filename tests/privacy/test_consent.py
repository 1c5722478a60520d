"""Consent grants and withdrawals: appended to the warehouse `consents` table, latest wins,
repeats change nothing, `all` covers every channel or purpose, unknown patients are 404, every
call audited (DuckDB and PostgreSQL)."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.errors import Forbidden, NotFound
from careops.privacy.consent import (
    ConsentChange,
    current_consents,
    may_contact,
    read_consents,
    record_consent,
)
from careops.service import Actor, Ops
from careops.state.models import audit_log
from careops.warehouse import connect, create_tables
from careops.warehouse.connect import close
from tests.conftest import fill

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def ops(request, tmp_path):
    if request.param == "duckdb":
        url, state = f"duckdb:///{tmp_path / 'w.duckdb'}", f"sqlite:///{tmp_path / 's.db'}"
    else:
        url = state = request.getfixturevalue("pg_database")()
    con = connect(url)
    try:
        create_tables(con)
        fill(con, {"patients": pa.table({"user_id": ["p1", "p2"], "registered_at": [T0, T0]})})
    finally:
        close(con)
    ops = Ops.open(url, state, actor=Actor("zhang", kind="user", roles=("operations",)))
    yield ops
    ops.close()


def _rows(ops) -> list[dict]:
    with ops.warehouse(read_only=True) as con:
        return con.table("consents").order_by("ts").to_pyarrow().to_pylist()


def test_a_withdrawal_is_appended_and_wins(ops):
    first = record_consent(
        ops, "p1", ConsentChange(channel="sms", purpose="marketing", granted=True)
    )
    assert first.changed and first.state.granted
    second = record_consent(
        ops, "p1", ConsentChange(channel="sms", purpose="marketing", granted=False)
    )
    assert second.changed and not second.state.granted
    rows = _rows(ops)
    assert [(r["granted"], r["source"]) for r in rows] == [(1, "api:user:zhang")] * 1 + [
        (0, "api:user:zhang")
    ]
    [state] = read_consents(ops, "p1")
    assert (state.channel, state.purpose, state.granted) == ("sms", "marketing", False)


def test_repeating_the_current_decision_appends_nothing(ops):
    change = ConsentChange(channel="wechat", purpose="service", granted=False)
    assert record_consent(ops, "p1", change).changed
    again = record_consent(ops, "p1", change)
    assert not again.changed and not again.state.granted
    assert len(_rows(ops)) == 1


def test_states_are_per_channel_and_purpose_and_per_patient(ops):
    record_consent(ops, "p1", ConsentChange(channel="sms", purpose="marketing", granted=False))
    record_consent(ops, "p1", ConsentChange(channel="email", purpose="marketing", granted=True))
    record_consent(ops, "p2", ConsentChange(channel="sms", purpose="marketing", granted=True))
    states = read_consents(ops, "p1")
    assert [(s.channel, s.granted) for s in states] == [("email", True), ("sms", False)]
    assert [s.granted for s in read_consents(ops, "p2")] == [True]


def test_all_covers_every_channel_and_the_latest_applicable_decision_wins(ops):
    with ops.warehouse() as con:
        assert may_contact(con, "p1", "sms", "marketing") is None  # never decided
    record_consent(ops, "p1", ConsentChange(channel="sms", purpose="marketing", granted=True))
    record_consent(ops, "p1", ConsentChange(channel="all", purpose="marketing", granted=False))
    with ops.warehouse() as con:
        assert may_contact(con, "p1", "sms", "marketing") is False
        assert may_contact(con, "p1", "wechat", "marketing") is False
        assert may_contact(con, "p1", "sms", "service") is None
    record_consent(ops, "p1", ConsentChange(channel="sms", purpose="all", granted=True))
    with ops.warehouse() as con:
        assert may_contact(con, "p1", "sms", "marketing") is True
        assert may_contact(con, "p1", "wechat", "marketing") is False


def test_a_tie_in_time_withdraws(ops):
    """Two decisions at the same instant (possible on DuckDB, which keeps no key; PostgreSQL's
    key on user, channel, purpose and time refuses the second): the withdrawal wins."""
    tie = pa.table(
        {
            "user_id": ["p1", "p1"],
            "channel": ["sms", "sms"],
            "purpose": ["marketing", "marketing"],
            "granted": [1, 0],
            "ts": [T0, T0],
            "source": ["his", "his"],
        }
    )
    with ops.warehouse() as con:
        if con.name == "postgres":
            with pytest.raises(Exception, match="consents_key"):
                fill(con, {"consents": tie})
            return
        fill(con, {"consents": tie})
        [state] = current_consents(con, "p1")
        assert state.granted is False


def test_an_unknown_patient_is_not_found_and_nothing_is_written(ops):
    with pytest.raises(NotFound, match="nobody"):
        record_consent(ops, "nobody", ConsentChange(channel="sms", purpose="all", granted=False))
    with pytest.raises(NotFound):
        read_consents(ops, "nobody")
    assert _rows(ops) == []


def test_every_call_is_audited_with_the_patient_as_subject(ops):
    record_consent(ops, "p1", ConsentChange(channel="sms", purpose="marketing", granted=False))
    read_consents(ops, "p1")
    with ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.subject, audit_log.c.detail).order_by(
                audit_log.c.id
            )
        ).all()
    assert [(a, s) for a, s, _ in rows] == [("consent.record", "p1"), ("consent.read", "p1")]
    assert rows[0][2] == {
        "channel": "sms",
        "purpose": "marketing",
        "granted": False,
        "changed": True,
    }


def test_roles_without_consents_write_are_refused(ops):
    medical = Ops.open(
        ops.warehouse_url, ops.state_url, actor=Actor("li", kind="user", roles=("medical",))
    )
    with pytest.raises(Forbidden):
        record_consent(medical, "p1", ConsentChange(channel="sms", purpose="all", granted=False))


def test_unknown_channels_purposes_and_fields_are_refused():
    from pydantic import ValidationError

    for bad in (
        {"channel": "fax", "purpose": "marketing", "granted": True},
        {"channel": "sms", "purpose": "sales", "granted": True},
        {"channel": "sms", "purpose": "marketing", "granted": "maybe"},
        {"channel": "sms", "purpose": "marketing", "granted": True, "source": "forged"},
        {"channel": "sms", "purpose": "marketing"},
    ):
        with pytest.raises(ValidationError):
            ConsentChange(**bad)
