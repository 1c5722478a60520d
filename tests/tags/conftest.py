"""Tag test helpers: DuckDB warehouses and a function turning tag tables into dicts by user."""

from __future__ import annotations

import pytest

from careops.warehouse import connect, create_tables


@pytest.fixture
def duck(tmp_path):
    con = connect(f"duckdb:///{tmp_path / 'w.duckdb'}")
    create_tables(con)
    return con


@pytest.fixture(scope="module")
def module_duck(tmp_path_factory):
    """One warehouse per test module, for a fixture hospital computed once."""
    con = connect(f"duckdb:///{tmp_path_factory.mktemp('tags') / 'w.duckdb'}")
    create_tables(con)
    return con


def by_user(table) -> dict[str, dict]:
    return {r["user_id"]: r for r in table.to_pylist()}
