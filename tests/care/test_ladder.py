"""The renewal ladder: hand-worked on literal enrolments (every stage at and across its
boundary) and the contacts read from the journey outbox; on the simulated hospital in
tests/care/test_packages.py (its module fixture)."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.care.catalogue import load_catalogue
from careops.care.ladder import CONTACTS_SCHEMA, ladder
from careops.config import get_settings
from careops.errors import InvalidInput
from careops.warehouse import create_tables, warehouse
from tests.conftest import fill

UTC = dt.UTC
AS_OF = dt.date(2026, 3, 1)


def t(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=4, tzinfo=UTC)  # 12:00 Shanghai


ROWS = [  # id, user, package, start, end, status, renewal_of
    ("e60", "a", "PKG-HTN90", "2026-01-20", "2026-04-20", "active", None),  # ends in 50 days
    ("e30", "b", "PKG-HTN90", "2025-12-25", "2026-03-30", "active", None),  # day +29: in 30
    ("e31", "b2", "PKG-HTN90", "2025-12-26", "2026-03-31", "active", None),  # +30: not in 30
    ("e7", "c", "PKG-HTN90", "2025-12-05", "2026-03-07", "active", None),  # +6: in 7
    ("efar", "d", "PKG-HTN90", "2026-02-01", "2026-12-01", "active", None),
    ("endR", "r", "PKG-HTN90", "2025-10-12", "2026-01-10", "expired", None),
    ("rR", "r", "PKG-HTN90", "2026-01-15", "2026-04-15", "active", "endR"),
    ("endL", "l", "PKG-HTN90", "2025-10-07", "2026-01-05", "expired", None),  # lapsed
    ("endP", "p", "PKG-HTN90", "2025-11-22", "2026-02-20", "expired", None),  # in grace
    ("old", "o", "PKG-HTN90", "2025-07-01", "2025-10-01", "expired", None),  # > 90 days ago
    ("canc", "x", "PKG-HTN90", "2025-11-01", "2026-02-01", "cancelled", None),
    ("dm1", "m", "PKG-DM90", "2025-11-03", "2026-02-01", "expired", None),  # renewed, no link
    ("dm2", "m", "PKG-DM90", "2026-02-10", "2026-05-11", "active", None),
]
CONTACTS = [
    ("l", "2025-12-01"),  # 35 days before endL's end: contacted
    ("r", "2025-08-01"),  # 162 days before endR's end: too early
    ("p", "2026-03-02"),  # after as-of: not seen
    ("m", "2026-01-20"),
]


@pytest.fixture
def small(tmp_path):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    keys = ("enrollment_id", "user_id", "package_id", "start_at", "end_at", "status")
    rows = [
        dict(zip(keys, (i, u, p, t(s), t(e), st), strict=True)) | {"renewal_of": r}
        for i, u, p, s, e, st, r in ROWS
    ]
    with warehouse(url) as con:
        create_tables(con)
        fill(
            con,
            {
                "patients": pa.table({"user_id": sorted({r[1] for r in ROWS})}),
                "enrollments": pa.Table.from_pylist(rows),
            },
        )
    return url


def contacts_table(pairs) -> pa.Table:
    return pa.Table.from_pylist([{"user_id": u, "ts": t(d)} for u, d in pairs], CONTACTS_SCHEMA)


def test_ladder_hand_worked(small):
    with warehouse(small, read_only=True) as con:
        rows = ladder(
            con, AS_OF, get_settings(), load_catalogue(), contacts=contacts_table(CONTACTS)
        )
    got = {r.package_id: r for r in rows}
    assert list(got)[: len(load_catalogue().packages)] == list(load_catalogue().packages)
    h = got["PKG-HTN90"]
    assert (h.running, h.expiring_60, h.expiring_30, h.expiring_7) == (6, 5, 2, 1)
    assert (h.ended, h.contacted, h.renewed, h.renewed_contacted) == (3, 1, 1, 0)
    assert (h.lapsed, h.pending, h.renewal_rate) == (1, 1, 0.5)
    d = got["PKG-DM90"]  # ended 28 days ago, renewed 9 days after: renewed, contacted first
    assert (d.running, d.expiring_60, d.ended, d.renewed, d.renewed_contacted) == (1, 0, 1, 1, 1)
    assert (d.lapsed, d.pending) == (0, 0)
    assert got["PKG-MAT"].running == 0 and got["PKG-MAT"].renewal_rate is None


def test_ladder_without_contacts_and_bad_days(small):
    with warehouse(small, read_only=True) as con:
        rows = {r.package_id: r for r in ladder(con, AS_OF, get_settings(), load_catalogue())}
        assert rows["PKG-HTN90"].contacted == 0 and rows["PKG-HTN90"].ended == 3
        # a window of 50 days: endL (55 days ago) and endR (50) — endR is day −50: inside
        rows = {
            r.package_id: r for r in ladder(con, AS_OF, get_settings(), load_catalogue(), days=50)
        }
        assert rows["PKG-HTN90"].ended == 2
        with pytest.raises(InvalidInput, match="days"):
            ladder(con, AS_OF, get_settings(), load_catalogue(), days=0)


def test_service_reads_contacts_from_the_journey_outbox(small, tmp_path, run_cli):
    from careops.care.packages_service import renewal_ladder
    from careops.journeys import store
    from careops.service import Ops

    state = f"sqlite:///{tmp_path / 's.db'}"
    ops = Ops.open(warehouse=small, state=state)
    base = {"enrolment_id": 1, "step": "offer", "decided_at": t("2025-12-01"), "attempts": 1}
    with ops.state.begin() as conn:
        conn.execute(
            sa.insert(store.outbox),
            [
                base | {"key": "k1", "journey": "renewal_ladder", "user_id": "l",
                        "kind": "message", "status": "sent", "sent_at": t("2025-12-01")},
                base | {"key": "k2", "journey": "renewal_ladder", "user_id": "r",
                        "kind": "message", "status": "failed", "sent_at": None},
                base | {"key": "k3", "journey": "silent_recall", "user_id": "p",
                        "kind": "message", "status": "sent", "sent_at": t("2026-02-10")},
            ],
        )  # fmt: skip
    rows = {r.package_id: r for r in renewal_ladder(ops, AS_OF)}
    assert rows["PKG-HTN90"].contacted == 1  # only the sent renewal message
    assert {r.package_id: r for r in renewal_ladder(ops, AS_OF, journey="silent_recall")}[
        "PKG-HTN90"
    ].contacted == 1  # endP's patient, inside its span
    with pytest.raises(InvalidInput, match="journey"):
        renewal_ladder(ops, AS_OF, journey="x; drop table")
    ops.close()
    code, out, err = run_cli(
        "packages", "ladder", "--as-of", "2026-03-01", "-w", small, "--state", state, "--json"
    )
    assert code == 0, err
    row = next(r for r in json.loads(out) if r["package_id"] == "PKG-HTN90")
    assert (row["expiring_30"], row["contacted"], row["renewal_rate"]) == (2, 1, 0.5)
    code, out, err = run_cli(
        "packages", "ladder", "--as-of", "2026-03-01", "-w", small, "--state", state
    )
    assert code == 0 and "续费阶梯" in out  # (narrow test terminal: cells wrap)
    code, _, err = run_cli("packages", "ladder", "--days", "0", "-w", small, "--state", state)
    assert code == 2 and "days" in err
