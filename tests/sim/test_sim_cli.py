"""`careops simulate` from the command line: files, JSON report, clear errors."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass

import pytest

from careops.cli import main


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


@pytest.fixture
def run(capsys, monkeypatch):
    """Run `careops ARGS` in-process through the real entry point (exit code, stdout, stderr)."""

    def go(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["careops", *args])
        with pytest.raises(SystemExit) as stop:
            main()
        got = capsys.readouterr()
        code = stop.value.code
        return Run(code if isinstance(code, int) else (0 if code is None else 1), got.out, got.err)

    return go


def test_simulate_writes_tables_truth_and_calibration(tmp_path, run):
    out = tmp_path / "sim"
    p = run(
        "simulate",
        "--users",
        "300",
        "--days",
        "60",
        "--seed",
        "2",
        "--start",
        "2025-05-01",
        "--out",
        str(out),
        "--json",
    )
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["rows"]["patients"] == 300
    assert (out / "ground_truth" / "users.parquet").exists()
    cal = json.loads((out / "calibration.json").read_text(encoding="utf-8"))
    assert {m["metric"] for m in cal["metrics"]} >= {"retention_d30", "paid_cac_min"}


def test_simulate_prints_the_summary_tables(tmp_path, run):
    p = run(
        "simulate",
        "--users",
        "200",
        "--days",
        "40",
        "--start",
        "2025-05-01",
        "--out",
        str(tmp_path / "s"),
    )
    assert p.returncode == 0, p.stderr
    assert "患者画像" in p.stdout and "校准" in p.stdout and "年轻上班族" in p.stdout


def test_bad_arguments_give_a_message_not_a_traceback(tmp_path, run):
    p = run("simulate", "--users", "10", "--start", "2999-01-01", "--out", str(tmp_path / "x"))
    assert p.returncode == 2
    assert "future" in p.stderr and "Traceback" not in p.stderr
    p = run("simulate", "--users", "0", "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "--users" in p.stderr
    p = run("simulate", "--start", "yesterday", "--out", str(tmp_path / "x"))
    assert p.returncode == 2 and "Traceback" not in p.stderr
