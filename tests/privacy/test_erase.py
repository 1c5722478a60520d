"""Erasure: a patient put in every table of both stores is found in none afterwards (DuckDB
warehouse + SQLite state; PostgreSQL warehouse and state in one database), other patients keep
everything but their links to them, and the audit names the patient only by a keyed hash."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.errors import InvalidInput, NotFound
from careops.privacy import erase as erase_module
from careops.privacy.erase import erase_patient, keyed_hash
from careops.schema import TABLES
from careops.segments.saved import MEMBERS, MEMBERS_SCHEMA
from careops.service import Actor, Ops
from careops.state.audit_trail import verify_chain
from careops.state.models import (
    audit_log,
    care_assignments,
    experiment_exposures,
    experiments,
    metadata,
)
from careops.warehouse import connect, create_tables
from careops.warehouse.connect import close
from tests.conftest import fill

GONE = "pat-erase-7"  # no other id contains it, so a substring search is exact
KEPT = "pat-keep-1"
STATE_TABLES = {*metadata.tables, "alembic_version", "later_outbox"}
T0 = dt.datetime(2026, 1, 5, 8, 30, tzinfo=dt.UTC)


def _value(table: str, column, uid: str):
    if column.name == "user_id":
        return uid
    if column.enum:
        return column.enum[0]
    return {
        "timestamp": T0,
        "date": dt.date(1980, 1, 1),
        "float64": 1.0,
        "int64": 1,
        "json": "{}",
    }.get(column.type, f"{table}.{column.name}.{uid}")


def _canonical_rows(uid: str) -> dict[str, pa.Table]:
    out = {}
    for name, spec in TABLES.items():
        if spec.user_column != "user_id":
            continue
        row = {c.name: [_value(name, c, uid)] for c in spec.columns}
        if name == "patients" and uid == KEPT:  # referred and managed by the erased patient
            row |= {"referrer_id": [GONE], "managed_by": [GONE]}
        if name == "events" and uid == KEPT:
            row |= {"name": ["invite"], "properties": [json.dumps({"invitee_id": GONE, "n": 1})]}
        out[name] = pa.table(row, schema=spec.arrow_schema())
    return out


def _system_rows(con, uid: str) -> None:
    def insert(table: str, **values) -> None:
        schema = con.get_schema(table)
        arrow = schema.to_pyarrow()
        con.insert(table, pa.table({c: [values.get(c)] for c in schema.names}, schema=arrow))

    insert(
        "contacts",
        load_id="l1",
        table_name="patients",
        record_id=uid,
        user_id=uid,
        name="sealed-name",
        phone="sealed-phone",
        key_id="k1",
    )
    insert(
        "ingest_flags",
        load_id="l1",
        table_name="orders",
        record_id=f"o-{uid}",
        user_id=uid,
        flag="unknown_user",
    )
    insert(
        "ingest_extras",
        load_id="l1",
        table_name="patients",
        record_id=uid,
        data='{"微信昵称": "x"}',
    )
    insert(
        "ingest_extras",
        load_id="l1",
        table_name="orders",
        record_id=f"orders.order_id.{uid}",
        data='{"coupon": "c1"}',
    )
    insert(
        "ingest_extras",
        load_id="l1",
        table_name="consents",
        record_id=f"{uid}|sms|marketing|2026-01-05 08:30:00+00",
        data='{"note": "n"}',
    )
    insert(
        "quarantine",
        load_id="l1",
        source="patients.csv",
        table_name="patients",
        record="row 3",
        field="birth_date",
        reason="bad date",
        raw=f'{{"user_id": "{uid}", "birth_date": "1980-13-01"}}',
    )
    con.create_table(
        "tag_snapshot_20260105",
        pa.table({"user_id": [uid], "lifecycle": ["active"]}),
    ) if "tag_snapshot_20260105" not in con.list_tables() else con.insert(
        "tag_snapshot_20260105", pa.table({"user_id": [uid], "lifecycle": ["active"]})
    )
    if MEMBERS not in con.list_tables():
        con.create_table(MEMBERS, schema=MEMBERS_SCHEMA)
    con.insert(
        MEMBERS,
        pa.table(
            {
                "segment": ["s1"],
                "as_of": [dt.date(2026, 1, 5)],
                "user_id": [uid],
                "computed_at": [T0],
            }
        ),
    )
    if "model_scores" not in con.list_tables():  # a later module's table: found by its column
        con.create_table("model_scores", schema={"user_id": "string", "churn": "float64"})
    con.insert("model_scores", pa.table({"user_id": [uid], "churn": [0.3]}))


def _state_rows(engine, uid: str) -> None:
    with engine.begin() as conn:
        if not conn.execute(sa.select(experiments.c.key)).first():
            conn.execute(
                experiments.insert().values(
                    key="exp1", definition={}, created_at=T0, created_by="os:t"
                )
            )
        conn.execute(
            experiment_exposures.insert().values(
                experiment_key="exp1", user_id=uid, variant="a", exposed_at=T0
            )
        )
        conn.execute(
            care_assignments.insert().values(
                username="hm-wang", user_id=uid, assigned_at=T0, assigned_by="os:t"
            )
        )
        conn.execute(
            sa.text("INSERT INTO later_outbox (patient, message) VALUES (:p, :m)"),
            {"p": uid, "m": f"hello {uid}"},
        )


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def stores(request, tmp_path, monkeypatch):
    """(warehouse URL, state URL) holding both patients everywhere."""
    if request.param == "duckdb":
        url, state = f"duckdb:///{tmp_path / 'w.duckdb'}", f"sqlite:///{tmp_path / 'w.state.db'}"
    else:
        url = request.getfixturevalue("pg_database")()
        state = url  # the default: a PostgreSQL warehouse keeps its state in the same database
    con = connect(url)
    try:
        create_tables(con)
        for uid in (GONE, KEPT):
            fill(con, _canonical_rows(uid))
            _system_rows(con, uid)
        con.create_view("patient_ids", con.table("patients").select("user_id"))  # not erasable
    finally:
        close(con)
    ops = Ops.open(url, state)
    with ops.state.begin() as conn:  # a later module's table, keyed by another column
        conn.execute(sa.text("CREATE TABLE later_outbox (patient VARCHAR(128), message TEXT)"))
    monkeypatch.setitem(
        erase_module.ERASERS,
        "later_module",
        lambda conn, uid: {
            "later_outbox": conn.execute(
                sa.text("DELETE FROM later_outbox WHERE patient = :p"), {"p": uid}
            ).rowcount
        },
    )
    for uid in (GONE, KEPT):
        _state_rows(ops.state, uid)
        ops.audit("patient.read", f"patient:{uid}", {"fields": ["tags"]}, subject=uid)
    ops.close()
    return url, state


def _warehouse_hits(url: str, needle: str) -> dict[str, int]:
    con = connect(url, read_only=True)
    try:
        hits = {}
        for name in con.list_tables():
            if name in STATE_TABLES:  # PostgreSQL keeps them in the same database: checked apart
                continue
            t = con.table(name)
            strings = [c for c, typ in t.schema().items() if typ.is_string()]
            if not strings:
                continue
            cond = t[strings[0]].contains(needle).fill_null(False)
            for c in strings[1:]:
                cond |= t[c].contains(needle).fill_null(False)
            n = int(t.filter(cond).count().execute())
            if n:
                hits[name] = n
        return hits
    finally:
        close(con)


def _state_hits(engine, needle: str) -> dict[str, int]:
    hits = {}
    inspector = sa.inspect(engine)
    with engine.connect() as conn:
        for name in inspector.get_table_names():
            columns = [c["name"] for c in inspector.get_columns(name)]
            t = sa.table(name, *[sa.column(c) for c in columns])
            cond = sa.or_(*[sa.cast(t.c[c], sa.Text).contains(needle) for c in columns])
            n = conn.execute(sa.select(sa.func.count()).select_from(t).where(cond)).scalar_one()
            if n:
                hits[name] = n
    return hits


def test_nothing_of_the_patient_is_left_in_either_store(stores):
    url, state = stores
    ops = Ops.open(url, state)
    assert _warehouse_hits(url, GONE)  # the search does find them before
    report = erase_patient(ops, GONE)

    assert _warehouse_hits(url, GONE) == {}
    left = _state_hits(ops.state, GONE)
    assert left == {"audit_log": 1}  # only the earlier read entry, kept on purpose
    assert report.warehouse["patients"] == 1 and report.warehouse["contacts"] == 1
    assert report.warehouse["tag_snapshot_20260105"] == 1
    assert report.warehouse[MEMBERS] == 1 and report.warehouse["model_scores"] == 1
    assert report.warehouse["ingest_extras"] == 3 and report.warehouse["quarantine"] == 1
    assert report.warehouse["patients.referrer_id"] == 1
    assert report.warehouse["events.properties.invitee_id"] == 1
    assert report.state == {"care_assignments": 1, "experiment_exposures": 1, "later_outbox": 1}
    for name, spec in TABLES.items():
        if spec.user_column == "user_id":
            assert report.warehouse[name] == 1, name
    ops.close()


def test_other_patients_keep_their_rows_but_lose_the_links(stores):
    url, state = stores
    ops = Ops.open(url, state)
    before = _warehouse_hits(url, KEPT)
    erase_patient(ops, GONE)
    assert _warehouse_hits(url, KEPT) == before
    con = connect(url, read_only=True)
    try:
        p = con.table("patients").filter(lambda t: t.user_id == KEPT).to_pyarrow().to_pylist()[0]
        assert p["referrer_id"] is None and p["managed_by"] is None
        e = con.table("events").filter(lambda t: t.user_id == KEPT).to_pyarrow().to_pylist()[0]
        assert json.loads(e["properties"]) == {"n": 1}
    finally:
        close(con)
    assert _state_hits(ops.state, KEPT)["care_assignments"] == 1
    ops.close()


def test_the_audit_entry_names_the_patient_only_by_a_keyed_hash(stores):
    url, state = stores
    ops = Ops.open(url, state)
    report = erase_patient(ops, GONE)
    with ops.state.connect() as conn:
        row = (
            conn.execute(sa.select(audit_log).where(audit_log.c.action == "patient.erase"))
            .mappings()
            .one()
        )
    assert GONE not in json.dumps(dict(row), default=str)
    assert row["detail"]["subject_hmac"] == report.subject_hash == keyed_hash(ops.state, GONE)
    assert row["detail"]["warehouse"]["patients"] == 1 and row["subject"] is None
    assert verify_chain(ops.state).ok
    ops.close()


def test_erasing_again_or_an_unknown_id_is_not_found(stores):
    url, state = stores
    ops = Ops.open(url, state)
    erase_patient(ops, GONE)
    with pytest.raises(NotFound):
        erase_patient(ops, GONE)
    with pytest.raises(NotFound):
        erase_patient(ops, "nobody-at-all")
    with ops.state.connect() as conn:
        erasures = conn.execute(
            sa.select(sa.func.count()).where(audit_log.c.action == "patient.erase")
        ).scalar_one()
    assert erasures == 1
    ops.close()


def test_a_failing_state_eraser_rolls_back_the_state_and_a_rerun_finishes(stores, monkeypatch):
    url, state = stores
    ops = Ops.open(url, state)

    def broken(conn, uid):
        raise RuntimeError("journeys store down")

    monkeypatch.setitem(erase_module.ERASERS, "zz-broken", broken)
    with pytest.raises(RuntimeError):
        erase_patient(ops, GONE)
    assert _warehouse_hits(url, GONE) == {}  # the warehouse step committed
    assert "care_assignments" in _state_hits(ops.state, GONE)  # the state step did not
    monkeypatch.delitem(erase_module.ERASERS, "zz-broken")
    report = erase_patient(ops, GONE)
    assert report.warehouse == {} and report.state["care_assignments"] == 1
    assert _state_hits(ops.state, GONE) == {"audit_log": 1}
    ops.close()


@pytest.mark.parametrize("bad", ["", " x", "x\n", "a\x00b", "x" * 129])
def test_a_bad_id_is_refused_before_anything_runs(bad):
    with pytest.raises(InvalidInput, match="user_id"):
        erase_patient(Ops.open(), bad)


def test_only_holders_of_privacy_erase_may_erase():
    from careops.errors import Forbidden

    ops = Ops.open(actor=Actor("li", kind="user", roles=("operations",)))
    with pytest.raises(Forbidden, match=r"privacy\.erase"):
        erase_patient(ops, GONE)


def test_an_id_with_regex_characters_matches_only_itself(tmp_path):
    """The quarantine match is a token match on an escaped id: `a.b` does not erase `axb`."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    con = connect(url)
    try:
        create_tables(con)
        fill(con, {"patients": pa.table({"user_id": ["a.b(1)"], "registered_at": [T0]})})
        for raw in ('{"user_id": "a.b(1)"}', '{"user_id": "axb(1)"}', '{"user_id": "a.b(1)x"}'):
            schema = con.get_schema("quarantine")
            row = {c: [raw if c == "raw" else None] for c in schema.names}
            con.insert("quarantine", pa.table(row, schema=schema.to_pyarrow()))
    finally:
        close(con)
    report = erase_patient(Ops.open(url, f"sqlite:///{tmp_path / 's.db'}"), "a.b(1)")
    assert report.warehouse["quarantine"] == 1


def test_a_spark_warehouse_is_refused_with_a_reason():
    """Spark has no transactions: half an erasure is worse than a clear refusal."""
    from careops.warehouse.erase import erase_user

    class Spark:
        name = "pyspark"

    with pytest.raises(InvalidInput, match="DuckDB or PostgreSQL"):
        erase_user(Spark(), GONE)


def test_a_missing_warehouse_is_an_error_and_no_empty_one_is_made(tmp_path):
    """A mistyped warehouse URL must not 'erase' from a new, empty DuckDB file and report
    nothing found: it is refused, naming the file, and no file appears."""
    from careops.errors import WarehouseError

    missing = tmp_path / "typo" / "w.duckdb"
    ops = Ops.open(f"duckdb:///{missing}", f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(WarehouseError, match="does not exist"):
        erase_patient(ops, GONE)
    assert not missing.exists() and not missing.parent.exists()


def test_every_module_with_state_tables_is_loaded_before_an_erasure():
    """A patient table of a module the erasing process never imported would be skipped."""
    from careops.privacy.erase import TABLE_MODULES
    from tests.state.test_migrations_match_tables import declaring_modules

    assert set(declaring_modules()) - {"careops.state.models"} <= set(TABLE_MODULES)


def test_points_and_referral_traces_are_erased(tmp_path):
    """Ledger, balance, allocations, coupons and codes go; as an inviter the patient's id is cut
    from the sign-ups of those they invited, who keep their own records."""
    import datetime as dt

    from careops.points import referral, service

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    con = connect(url)
    try:
        create_tables(con)
        for uid in (GONE, KEPT):
            fill(con, _canonical_rows(uid))
    finally:
        close(con)
    ops = Ops.open(url, f"sqlite:///{tmp_path / 's.db'}")
    at = dt.datetime(2026, 1, 10, tzinfo=dt.UTC)
    service.earn(ops, "patient", GONE, "checkup", "ev-1", at=at, verify=False)
    service.earn(ops, "patient", GONE, "manual", "ev-2", at=at, points=3000, verify=False)
    service.redeem(ops, GONE, "consult_10", at=at + dt.timedelta(days=1))
    code = referral.create_code(ops, GONE, at=at, verify=False).code
    referral.attribute(ops, KEPT, code, at=at + dt.timedelta(days=2))
    report = erase_patient(ops, GONE)
    for table in ("points_ledger", "points_accounts", "coupons", "referral_codes"):
        assert report.state.get(table), (table, report.state)
    hits = _state_hits(ops.state, GONE)
    assert set(hits) <= {"audit_log"}, hits  # the audit trail is kept (module docstring)
    with ops.state.connect() as conn:  # the invitee keeps their sign-up, the inviter cut
        row = conn.execute(sa.text("SELECT inviter_id FROM referral_signups")).one()
    assert row.inviter_id == "<erased>"
    ops.close()
