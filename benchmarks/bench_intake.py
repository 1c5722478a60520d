"""Event intake throughput: the real service (`careops serve`, uvicorn, one process) receiving
batches of 1,000 events from concurrent asyncio clients over HTTP.

Figures: events/s sustained over the whole run (every event answered as durably stored),
p50/p99 per batch, and how long until the last accepted event is in the warehouse (the
service's writer flushes its journal). Baseline, measured in the same run: the bare insert of
the same rows into DuckDB, one transaction per 1,000, no HTTP, no validation, no journal.
Aims (issue 12): ≥ 20,000 events/s sustained with p99 ≤ 200 ms per batch on 2 cores. Client
and server share the machine's cores; each figure carries the 1-minute load average.

    careops bench intake [--events 200000] [--clients 4,8] [--batch 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import duckdb
import httpx
import numpy as np
import pyarrow as pa

from careops.bench import save

PASSWORD = "intake-throughput-pw-2026"  # holds no part of the user name
NAMES = ["app_open", "search", "view_content", "view_doctor", "share", "message_open"]
PROPS = [{"query": "失眠"}, {"topic": "高血压"}, {"doctor_id": "d12"}, {}, None]


def batches(total: int, size: int) -> list[list[dict]]:
    """`total` synthetic events in batches of `size` (ids unique, times in the past year)."""
    rng = np.random.default_rng(7)
    base = 1_767_225_600  # 2026-01-01T00:00:00Z
    out = []
    for start in range(0, total, size):
        n = min(size, total - start)
        secs = base + rng.integers(0, 200 * 86_400, n)
        out.append(
            [
                {
                    "event_id": f"b{start + i}",
                    "user_id": f"u{int(rng.integers(0, 100_000))}",
                    "ts": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(secs[i]))),
                    "name": NAMES[i % len(NAMES)],
                    "properties": PROPS[i % len(PROPS)],
                }
                for i in range(n)
            ]
        )
    return out


def start_service(folder: Path, env: dict[str, str]) -> tuple[subprocess.Popen, int]:
    """`careops serve --port 0` in a subprocess; its port from uvicorn's start-up line."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "from careops.cli import main; main()", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300  # imports alone take minutes on a busy machine
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        found = re.search(r"Uvicorn running on http://[\d.]+:(\d+)", line)
        if found:
            return proc, int(found[1])
        if proc.poll() is not None:
            break
    proc.kill()
    raise RuntimeError(f"the service did not start: {proc.stderr.read()}")


async def send(port: int, token: str, bodies: list[bytes], clients: int) -> list[float]:
    """Send every body (clients at once); the seconds each batch took to be answered."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for b in bodies:
        queue.put_nowait(b)
    headers = {"authorization": f"Bearer {token}", "content-type": "application/json"}

    async def client() -> None:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=60) as http:
            while not queue.empty():
                body = queue.get_nowait()
                t = time.perf_counter()
                r = await http.post("/api/v1/events", content=body, headers=headers)
                latencies.append(time.perf_counter() - t)
                answer = r.json()
                if r.status_code != 200 or answer["rejected"]:
                    raise RuntimeError(f"{r.status_code}: {str(answer)[:300]}")

    await asyncio.gather(*(client() for _ in range(clients)))
    return latencies


def bare_insert(folder: Path, events: list[list[dict]]) -> float:
    """Seconds to insert the same rows into a fresh DuckDB file, a transaction per batch."""
    con = duckdb.connect(str(folder / "bare.duckdb"))
    con.execute(
        "CREATE TABLE events (event_id VARCHAR, user_id VARCHAR, ts TIMESTAMPTZ, name VARCHAR, "
        "properties VARCHAR)"
    )
    tables = [
        pa.table(
            {
                "event_id": [e["event_id"] for e in b],
                "user_id": [e["user_id"] for e in b],
                "ts": pa.array([e["ts"] for e in b]).cast(pa.timestamp("s", tz="UTC")),
                "name": [e["name"] for e in b],
                "properties": [json.dumps(e["properties"]) if e["properties"] else None for e in b],
            }
        )
        for b in events
    ]
    t = time.perf_counter()
    for table in tables:
        con.execute("BEGIN")
        con.register("stage", table)
        con.execute("INSERT INTO events SELECT * FROM stage")
        con.unregister("stage")
        con.execute("COMMIT")
    seconds = time.perf_counter() - t
    con.close()
    return seconds


WATCH = """
import sys, time, duckdb
path, total = sys.argv[1], int(sys.argv[2])
while True:
    try:
        con = duckdb.connect(path, read_only=True)
        n = con.execute("SELECT count(*) FROM events").fetchone()[0]
        con.close()
        if n >= total:
            print(time.time(), flush=True)
            break
    except duckdb.Error:  # not created yet, or the service is writing: look again
        pass
    time.sleep(0.05)
"""


def watch(path: Path, total: int) -> subprocess.Popen:
    """A process that prints the wall-clock time the warehouse first holds `total` events."""
    return subprocess.Popen(
        [sys.executable, "-c", WATCH, str(path), str(total)], stdout=subprocess.PIPE, text=True
    )


def warehouse_count(url: str, env: dict[str, str]) -> int:
    """Events in the warehouse, read by a separate process (the service owns the file)."""
    code = (
        "import sys; from careops.warehouse import warehouse\n"
        "with warehouse(sys.argv[1], read_only=True, wait_s=30) as c:\n"
        "    print(c.raw_sql('SELECT count(*) FROM events').fetchone()[0] "
        "if 'events' in c.list_tables() else 0)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url], env=env, capture_output=True, text=True, check=True
    )
    return int(out.stdout.strip())


def run_once(total: int, size: int, clients: int) -> dict:
    """One measurement: a fresh warehouse, the service started, `total` events sent."""
    folder = Path(tempfile.mkdtemp(prefix="careops-bench-intake-"))
    url = f"duckdb:///{folder / 'warehouse.duckdb'}"
    env = {
        **os.environ,
        "CAREOPS_CONFIG": "",
        "CAREOPS_WAREHOUSE": url,
        "CAREOPS_STATE": f"sqlite:///{folder / 'state.db'}",
    }
    os.environ.update({k: env[k] for k in ("CAREOPS_CONFIG", "CAREOPS_WAREHOUSE", "CAREOPS_STATE")})
    from careops.config import get_settings
    from careops.identity import accounts
    from careops.service import Ops

    get_settings.cache_clear()
    ops = Ops.open()
    accounts.add_user(ops, "bench", "admin", PASSWORD, ())
    ops.close()

    events = batches(total, size)
    bodies = [json.dumps({"events": b}, ensure_ascii=False).encode() for b in events]
    load_base = os.getloadavg()[0]
    baseline = bare_insert(folder, events)

    proc, port = start_service(folder, env)
    try:
        token = httpx.post(
            f"http://127.0.0.1:{port}/api/v1/auth/token",
            json={"username": "bench", "password": PASSWORD},
        ).json()["access_token"]
        asyncio.run(send(port, token, bodies[:2], 1))  # warm-up: imports, first validation
        watcher = watch(folder / "warehouse.duckdb", total)
        load_before = os.getloadavg()[0]
        t = time.perf_counter()
        latencies = asyncio.run(send(port, token, bodies[2:], clients))
        seconds = time.perf_counter() - t
        load_after = os.getloadavg()[0]
        sent = sum(len(b) for b in events[2:])
        answered = time.time()
        try:
            seen, _ = watcher.communicate(timeout=120)
            visible = float(seen) - answered
        except subprocess.TimeoutExpired:
            watcher.kill()
            visible = None
    finally:
        proc.terminate()
        proc.wait(timeout=120)
    stored = warehouse_count(url, env)
    lat = np.array(latencies) * 1000
    rate = sent / seconds
    base_rate = total / baseline
    return {
        "clients": clients,
        "events_per_s": round(rate),
        "batches": len(latencies),
        "p50_ms": round(float(np.percentile(lat, 50)), 1),
        "p99_ms": round(float(np.percentile(lat, 99)), 1),
        "max_ms": round(float(lat.max()), 1),
        "seconds": round(seconds, 2),
        # from the last answer until a reader process (polling every 50 ms) sees every event
        "in_warehouse_after_s": None if visible is None else round(visible, 2),
        "stored_after_stop": stored,
        "baseline_events_per_s": round(base_rate),
        "ratio_to_baseline": round(base_rate / rate, 2),
        "load_avg_1m": {
            "before_baseline": load_base,
            "before_service": load_before,
            "after": load_after,
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--clients", default="4,8", help="comma-separated: one run for each")
    parser.add_argument("--batch", type=int, default=1000)
    args = parser.parse_args()
    runs = {
        f"clients_{n}": run_once(args.events, args.batch, int(n)) for n in args.clients.split(",")
    }
    result = {
        "baseline": "bare DuckDB INSERT of the same rows, one transaction per batch, no HTTP",
        "aims": {"events_per_s": 20_000, "p99_ms": 200},
        "events": args.events,
        "batch": args.batch,
        "server": "one uvicorn process ("
        + ("httptools, uvloop" if importlib.util.find_spec("uvloop") else "h11, asyncio loop")
        + "), DuckDB warehouse, SQLite state",
        "results": runs,
    }
    print(json.dumps(result, indent=2, ensure_ascii=False))
    print(f"saved {save('intake', result)}")


if __name__ == "__main__":
    main()
