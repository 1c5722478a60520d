"""`careops serve` and the command line on one embedded warehouse, as real processes: the
service owns the DuckDB file only while it uses it, so a CLI command writing or reading at the
same time waits its turn with a clear message; no traceback, no lost write on either side."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from careops.identity import accounts
from careops.service import Ops
from tests.intake.test_check import event

PASSWORD = "correct horse battery staple"
CLI = [sys.executable, "-c", "from careops.cli import main; main()"]


def serve(url: str, *args: str) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(
        [*CLI, "serve", "--port", "0", "--warehouse", url, *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        lines.append(line)
        found = re.search(r"Uvicorn running on http://[\d.]+:(\d+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()  # keep it drained
            return proc, int(found[1])
        if proc.poll() is not None:
            break
    proc.kill()
    pytest.fail("the service did not start: " + "".join(lines))


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)  # uvicorn's graceful stop: the worker flushes the journal
    try:
        proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise


def count(url: str, table: str) -> int:
    out = subprocess.run(
        [*CLI, "tables", "--json", "--warehouse", url],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "CAREOPS_SERVICE__CLI_WAIT_S": "60"},
    )
    assert out.returncode == 0 and "Traceback" not in out.stderr, out.stderr
    return int(json.loads(out.stdout).get(table, 0))


@pytest.fixture
def token_for():
    ops = Ops.open()
    accounts.add_user(ops, "intake", "admin", PASSWORD, ())
    ops.close()

    def token(port: int) -> dict[str, str]:
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json={"username": "intake", "password": PASSWORD},
            timeout=60,
        )
        return {"authorization": f"Bearer {r.json()['access_token']}"}

    return token


def test_cli_writes_while_the_service_writes_and_both_land(tmp_path: Path, token_for):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    csv = tmp_path / "patients.csv"
    csv.write_text(
        "user_id,registered_at,sex\n"
        + "".join(f"p{i},2025-01-0{1 + i % 9},F\n" for i in range(300)),
        encoding="utf-8",
    )
    proc, port = serve(url)
    answers: list[dict] = []
    try:
        headers = token_for(port)

        def post() -> None:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
                for b in range(30):
                    batch = [event(b * 100 + i) for i in range(100)]
                    r = http.post("/api/v1/events", json={"events": batch}, headers=headers)
                    answers.append({"status": r.status_code, **r.json()})
                    time.sleep(0.05)

        sender = threading.Thread(target=post)
        sender.start()
        time.sleep(1.0)  # the service is flushing its journal into the file by now
        ingest = subprocess.run(
            [*CLI, "ingest", str(csv), "--warehouse", url, "--wait", "60"],
            capture_output=True,
            text=True,
            timeout=180,
        )
        sender.join()
        assert ingest.returncode == 0, ingest.stderr
        assert "Traceback" not in ingest.stderr
        assert count(url, "patients") == 300  # a reader between the service's uses
    finally:
        stop(proc)
    assert all(a["status"] == 200 and a["accepted"] == 100 for a in answers), answers[:3]
    assert count(url, "events") == 3000
    assert count(url, "patients") == 300


def test_events_are_accepted_while_a_cli_command_holds_the_warehouse(tmp_path, token_for):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    proc, port = serve(url, "--with-worker")
    try:
        headers = token_for(port)
        holder = subprocess.Popen(  # a long CLI write: the file's lock held for seconds
            [
                sys.executable,
                "-c",
                "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
                "print('ready', flush=True); time.sleep(4)",
                str(tmp_path / "w.duckdb"),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert holder.stdout.readline().strip() == "ready"
        r = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/events",
            json={"events": [event(i) for i in range(10)]},
            headers=headers,
            timeout=60,
        )
        assert r.status_code == 200 and r.json()["accepted"] == 10  # durable in the journal
        holder.wait(timeout=60)
        deadline = time.monotonic() + 60
        while count(url, "events") < 10 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert count(url, "events") == 10
    finally:
        stop(proc)
