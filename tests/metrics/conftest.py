"""One warehouse per backend, loaded once with the hand-built hospital (tests only read it)."""

from __future__ import annotations

import uuid

import pytest

from careops.warehouse import connect, create_tables
from tests.conftest import BACKENDS, PG_ADMIN, _pg_admin, fill
from tests.metrics import hospital


def open_warehouse(kind: str, request, tmp_path_factory):
    """An empty warehouse with the canonical tables, and its clean-up."""
    name = f"careops_metrics_{uuid.uuid4().hex[:10]}"
    if kind == "duckdb":
        con = connect(f"duckdb:///{tmp_path_factory.mktemp('wh') / (name + '.duckdb')}")
        cleanup = con.disconnect
    elif kind == "postgres":
        admin = _pg_admin()
        admin.execute(f'CREATE DATABASE "{name}"')
        con = connect(PG_ADMIN.rsplit("/", 1)[0] + f"/{name}")

        def cleanup():
            con.disconnect()
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            admin.close()
    else:
        import ibis

        session = request.getfixturevalue("spark_session")
        session.sql(f"CREATE DATABASE {name}")
        session.catalog.setCurrentDatabase(name)
        con = ibis.pyspark.connect(session)

        def cleanup():
            session.catalog.setCurrentDatabase("default")
            session.sql(f"DROP DATABASE {name} CASCADE")

    create_tables(con)
    return con, cleanup


@pytest.fixture(scope="module", params=BACKENDS)
def hospital_wh(request, tmp_path_factory):
    """The hand-built hospital on DuckDB, PostgreSQL and Spark in turn."""
    con, cleanup = open_warehouse(request.param, request, tmp_path_factory)
    fill(con, hospital.tables())
    yield con
    cleanup()
