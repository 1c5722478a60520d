"""`DELETE /api/v1/patients/{user_id}` (admins) and `careops privacy erase`."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest

from careops.warehouse import create_tables
from tests.api.conftest import admin_ops, api, login  # noqa: F401  (fixtures)
from tests.conftest import fill

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


@pytest.fixture
def patients(admin_ops):  # noqa: F811
    with admin_ops.warehouse() as con:
        create_tables(con)
        fill(
            con,
            {
                "patients": pa.table({"user_id": ["p1", "p2"], "registered_at": [T0, T0]}),
                "orders": pa.table(
                    {"order_id": ["o1", "o2"], "user_id": ["p1", "p2"], "ts": [T0, T0]}
                ),
            },
        )


def _count(admin_ops, table: str, user_id: str) -> int:  # noqa: F811
    with admin_ops.warehouse(read_only=True) as con:
        t = con.table(table)
        return int(t.filter(t.user_id == user_id).count().execute())


def test_an_admin_erases_a_patient_and_gets_the_report(api, login, patients, admin_ops):  # noqa: F811
    r = api.delete("/api/v1/patients/p1", headers=login("admin"))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["warehouse"] == {"patients": 1, "orders": 1} and body["total"] == 2
    assert len(body["subject_hash"]) == 64
    assert _count(admin_ops, "orders", "p1") == 0 and _count(admin_ops, "orders", "p2") == 1
    again = api.delete("/api/v1/patients/p1", headers=login("admin"))
    assert again.status_code == 404


@pytest.mark.parametrize("role", ["operations", "medical", "health_manager", "analyst", "auditor"])
def test_no_other_role_may_erase(api, login, patients, admin_ops, role):  # noqa: F811
    headers = login(role, ("儿科",) if role == "medical" else ())
    assert api.delete("/api/v1/patients/p1", headers=headers).status_code == 403
    assert _count(admin_ops, "patients", "p1") == 1


def test_erasure_without_a_token_is_401(api, patients):  # noqa: F811
    assert api.delete("/api/v1/patients/p1").status_code == 401


@pytest.mark.parametrize("user_id", ["%20p1", "p1%09", "x" * 129])
def test_a_malformed_id_is_422(api, login, patients, user_id):  # noqa: F811
    r = api.delete(f"/api/v1/patients/{user_id}", headers=login("admin"))
    assert r.status_code == 422 and "user_id" in str(r.json()["error"])


def test_cli_erase_asks_for_confirmation_then_reports(patients, admin_ops, run_cli):  # noqa: F811
    code, _, err = run_cli("privacy", "erase", "p1")
    assert code == 2 and "--yes" in err  # not a terminal: no silent erasure
    assert _count(admin_ops, "patients", "p1") == 1
    code, out, err = run_cli("privacy", "erase", "p1", "--yes", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["warehouse"] == {"orders": 1, "patients": 1} and data["total"] == 2
    code, _, err = run_cli("privacy", "erase", "p1", "--yes")
    assert code == 2 and "p1" in err and "Traceback" not in err
