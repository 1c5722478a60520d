"""Segment tests reuse the tag tests' DuckDB fixtures."""

from tests.tags.conftest import duck, module_duck  # noqa: F401
