"""Helpers for ingestion tests: write files, run the CLI in-process."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from careops import cli


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `careops ARGS…` in this process; return (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "argv", ["careops", *map(str, args)])
        try:
            cli.main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return run


@pytest.fixture
def ingest_json(run_cli, tmp_path):
    """Ingest paths into a DuckDB warehouse in tmp_path and return (exit code, JSON report)."""
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"

    def run(*args: str) -> tuple[int, dict]:
        code, out, err = run_cli("ingest", *args, "--warehouse", url, "--json")
        return code, (json.loads(out) if out.strip() else {"stderr": err})

    run.url = url
    return run


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode(encoding))
    return path
