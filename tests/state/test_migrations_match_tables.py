"""The Alembic migrations create exactly the tables the code declares: every module that
defines state-store tables on `careops.state.models.metadata` is imported, and Alembic's
comparison of the migrated store with that metadata finds no difference (a table, column or
index added in code without a migration, or the reverse, fails here)."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

import careops
from careops.state.models import metadata
from careops.state.store import connect_state, migrate

SRC = Path(careops.__file__).parent


def declaring_modules() -> list[str]:
    """Modules that put tables on the state store's metadata."""
    out = []
    for path in sorted(SRC.rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        if "sa.Table(" in text and "state.models import" in text and "metadata" in text:
            rel = path.relative_to(SRC.parent).with_suffix("")
            out.append(".".join(rel.parts))
    return out


def _differences(url: str) -> list:
    for name in declaring_modules():
        importlib.import_module(name)
    engine = connect_state(url)
    migrate(engine)
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": False})
        diffs = compare_metadata(context, metadata)
    engine.dispose()
    return [d for d in diffs if not _ignorable(d)]


def _ignorable(diff) -> bool:
    """Alembic's own version table, and the audit triggers' helper objects, are not ours."""
    text = repr(diff)
    return "alembic_version" in text


def test_some_modules_declare_tables():
    assert "careops.tasks.store" in declaring_modules()


def test_sqlite_store_matches_the_declared_tables(tmp_path):
    assert _differences(f"sqlite:///{tmp_path}/state.db") == []


@pytest.mark.postgres
def test_postgres_store_matches_the_declared_tables(pg_database):
    assert _differences(pg_database()) == []
