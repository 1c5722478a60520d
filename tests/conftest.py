"""Shared fixtures: one empty warehouse per backend, so a test runs unchanged on all three.

`warehouse` is parametrised over DuckDB (always), PostgreSQL (marker `postgres`, the server on
127.0.0.1:5432) and Spark `local[2]` (marker `spark`). Each test gets its own database, with the
canonical tables created. In CI (CI=true) a backend that cannot start fails the test: nothing is
skipped silently.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import pyarrow as pa
import pytest

from careops.config import get_settings
from careops.warehouse import connect, create_tables

PG_ADMIN = os.environ.get("CAREOPS_TEST_PG", "postgresql://postgres@127.0.0.1:5432/postgres")

BACKENDS = [
    pytest.param("duckdb", id="duckdb"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    pytest.param("spark", id="spark", marks=pytest.mark.spark),
]


def pytest_collection_modifyitems(config, items):
    # all Spark tests share one JVM: keep them on one xdist worker
    for item in items:
        if item.get_closest_marker("spark"):
            item.add_marker(pytest.mark.xdist_group("spark"))


CHEAP_ARGON2 = {
    "CAREOPS_API__ARGON2_TIME_COST": "1",
    "CAREOPS_API__ARGON2_MEMORY_KIB": "8",
    "CAREOPS_API__ARGON2_PARALLELISM": "1",
}


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch, tmp_path_factory):
    """Each test sees default settings, not the developer's careops.yaml or environment."""
    for key in list(os.environ):
        if key.startswith("CAREOPS_") and key != "CAREOPS_TEST_PG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("CAREOPS_CONFIG", "")
    home = tmp_path_factory.mktemp("careops-home")
    monkeypatch.setenv("CAREOPS_STATE", f"sqlite:///{home / 'state.db'}")
    monkeypatch.setenv("CAREOPS_WAREHOUSE", f"duckdb:///{home / 'warehouse.duckdb'}")
    # Argon2 at its lowest cost: tests make and check thousands of staff passwords, and what
    # they test is the answers, not the hash (tests/identity checks the production default)
    for key, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    yield
    get_settings.cache_clear()


def _pg_admin():
    import psycopg

    try:
        return psycopg.connect(
            PG_ADMIN.replace("postgresql://", "postgresql://", 1),
            autocommit=True,
            connect_timeout=5,
        )
    except psycopg.OperationalError as exc:
        pytest.fail(f"PostgreSQL is not reachable at {PG_ADMIN}: {exc} (run `make services`)")


@pytest.fixture(scope="session")
def spark_session():
    """The test session's one Spark (`local[2]`), with a Hive catalog in an embedded Derby
    metastore under a temporary folder, as `spark://local` has in production."""
    from careops.config import SparkSettings
    from careops.warehouse.spark import spark_session as make

    settings = SparkSettings(warehouse_dir=str(_tmp_root() / "spark-warehouse"))
    session = make("local[2]", settings)
    yield session
    session.stop()


def _tmp_root():
    import tempfile
    from pathlib import Path

    root = Path(tempfile.gettempdir()) / f"careops-tests-{os.getpid()}"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture
def pg_database() -> Iterator[Callable[[], str]]:
    """Factory: a new empty PostgreSQL database → its URL; dropped (forcefully) after the test."""
    admin = None
    names: list[str] = []

    def make() -> str:
        nonlocal admin
        admin = admin or _pg_admin()
        name = f"careops_t_{uuid.uuid4().hex[:12]}"
        admin.execute(f'CREATE DATABASE "{name}"')
        names.append(name)
        return PG_ADMIN.rsplit("/", 1)[0] + f"/{name}"

    yield make
    for name in names:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    if admin is not None:
        admin.close()


@pytest.fixture
def make_warehouse(request, tmp_path) -> Iterator[Callable[[str], object]]:
    """Factory: `make_warehouse("duckdb"|"postgres"|"spark")` → an empty warehouse with tables."""
    cleanups: list[Callable[[], None]] = []

    def make(kind: str):
        name = f"careops_t_{uuid.uuid4().hex[:12]}"
        if kind == "duckdb":
            con = connect(f"duckdb:///{tmp_path / (name + '.duckdb')}")
        elif kind == "postgres":
            con = connect(request.getfixturevalue("pg_database")())
            cleanups.append(con.disconnect)
        elif kind == "spark":
            import ibis

            session = request.getfixturevalue("spark_session")
            session.sql(f"CREATE DATABASE {name}")
            session.catalog.setCurrentDatabase(name)
            con = ibis.pyspark.connect(session)
            cleanups.append(
                lambda s=session, n=name: (
                    s.catalog.setCurrentDatabase("default"),
                    s.sql(f"DROP DATABASE {n} CASCADE"),
                )
            )
        else:
            raise ValueError(kind)
        create_tables(con)
        return con

    yield make
    for cleanup in reversed(cleanups):
        cleanup()


@pytest.fixture(params=BACKENDS)
def warehouse(request, make_warehouse):
    """An empty warehouse (canonical tables created) on each backend in turn."""
    return make_warehouse(request.param)


def fill(con, tables: dict[str, pa.Table]) -> None:
    """Insert small Arrow tables into a warehouse's canonical tables (for test fixtures)."""
    from careops.schema import TABLES

    for name, data in tables.items():
        schema = TABLES[name].arrow_schema()
        data = (
            data.select(schema.names).cast(schema)
            if set(schema.names) <= set(data.column_names)
            else _complete(data, schema)
        )
        con.insert(name, data)


def _complete(data: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = [
        data[n].cast(f.type) if n in data.column_names else pa.nulls(len(data), f.type)
        for n, f in zip(schema.names, schema, strict=True)
    ]
    return pa.table(cols, schema=schema)


@pytest.fixture
def run_cli(capsys, monkeypatch, request):
    """Run `careops ARGS…` in this process; return (exit code, stdout, stderr)."""
    import sys

    from careops import cli
    from careops.config import get_settings

    # `careops --lang en …` writes CAREOPS_LANG into this process's environment: put it back
    # after the test (it leaked into later tests' subprocesses, which then printed English)
    monkeypatch.setenv("CAREOPS_LANG", os.environ.get("CAREOPS_LANG", "zh"))
    request.addfinalizer(get_settings.cache_clear)

    def run(*args) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["careops", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run
