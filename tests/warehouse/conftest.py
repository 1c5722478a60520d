"""A small filled warehouse per backend, opened the way `careops sql` opens it (through `Ops`)."""

from __future__ import annotations

import datetime as dt
import uuid

import pyarrow as pa
import pytest

from careops.service import Ops
from careops.warehouse import create_tables, warehouse
from tests.conftest import BACKENDS, fill

T0 = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)
N_EVENTS = 200


def sample() -> dict[str, pa.Table]:
    """3 patients, 200 events (u1: 100, u2: 60, u3: 40), 4 orders; a secret in quarantine."""
    users = ["u1", "u2", "u3"]
    owner = [users[0] if i < 100 else users[1] if i < 160 else users[2] for i in range(N_EVENTS)]
    return {
        "patients": pa.table(
            {
                "user_id": users,
                "registered_at": [T0] * 3,
                "sex": ["F", "M", "U"],
                "city": ["上海", "北京", "广州"],
            }
        ),
        "events": pa.table(
            {
                "event_id": [f"e{i:03d}" for i in range(N_EVENTS)],
                "user_id": owner,
                "ts": [T0 + dt.timedelta(hours=i) for i in range(N_EVENTS)],
                "name": ["app_open" if i % 2 else "search" for i in range(N_EVENTS)],
                "properties": ["{}"] * N_EVENTS,
            }
        ),
        "orders": pa.table(
            {
                "order_id": ["o1", "o2", "o3", "o4"],
                "user_id": ["u1", "u1", "u2", "u3"],
                "ts": [T0, T0 + dt.timedelta(days=1), T0, T0],
                "category": ["drug"] * 4,
                "amount_cny": [10.0, 20.0, 30.5, 40.0],
                "status": ["paid"] * 4,
            }
        ),
    }


def _secrets(con) -> None:
    con.insert(
        "quarantine",
        pa.table(
            {
                "load_id": ["l1"],
                "source": ["/data/in.csv"],
                "table_name": ["patients"],
                "record": ["row 2"],
                "field": ["phone"],
                "reason": ["bad"],
                "raw": ["13800000000"],
                "quarantined_at": pa.array([T0], pa.timestamp("us", tz="UTC")),
            }
        ),
    )


@pytest.fixture
def analyst_ops(request, tmp_path):
    """Factory: `analyst_ops("duckdb"|"postgres"|"spark")` → an `Ops` on a filled warehouse
    (analyst role set up on PostgreSQL, as `careops init` does)."""
    cleanups = []

    def make(kind: str) -> Ops:
        state = f"sqlite:///{tmp_path / f'state-{uuid.uuid4().hex[:6]}.db'}"
        if kind == "duckdb":
            url = f"duckdb:///{tmp_path / 'w.duckdb'}"
        elif kind == "postgres":
            url = request.getfixturevalue("pg_database")()
        elif kind == "spark":
            name = f"careops_t_{uuid.uuid4().hex[:12]}"
            url = f"spark://local/{name}"
            session = request.getfixturevalue("spark_session")

            def drop(n=name, session=session):
                session.catalog.setCurrentDatabase("default")
                session.sql(f"DROP DATABASE IF EXISTS {n} CASCADE")

            cleanups.append(drop)
        else:
            raise ValueError(kind)
        with warehouse(url) as con:
            create_tables(con)
            fill(con, sample())
            _secrets(con)
            if kind == "postgres":
                from careops.warehouse.analyst_role import ensure_analyst_role

                setup = ensure_analyst_role(con, "careops_analyst")
                assert setup.problem is None, setup.problem
        # PostgreSQL: the state store in the same database, as in production (analyst SQL must
        # not reach it); elsewhere a SQLite file of the test's own
        ops = Ops.open(url, url if kind == "postgres" else state)
        ops.state  # noqa: B018 — migrated now, so its tables exist beside the warehouse
        cleanups.append(ops.close)
        return ops

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=BACKENDS)
def any_ops(request, analyst_ops) -> Ops:
    """A filled warehouse on each backend in turn."""
    return analyst_ops(request.param)
