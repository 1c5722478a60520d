"""Crash safety on PostgreSQL: a worker killed with SIGKILL at random moments and restarted
makes every due side effect exactly once — the same outbox as an uninterrupted run, every
message at the peer once, under its one key (`CAREOPS_CRASH_KILLS=20` for the long run)."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from careops.journeys import store
from careops.state.store import connect_state
from tests.journeys.engine_fixtures import BULK, at, build, write

ROOT = Path(__file__).parents[2]
KILLS = int(os.environ.get("CAREOPS_CRASH_KILLS", "6"))


def _worker(url: str, state: str, journey: Path, peer: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "CAREOPS_JOURNEYS__FILE_CHANNEL_PATH": str(peer),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.journeys.crash_worker", url, state, str(journey),
         at(1, 1).isoformat(), at(1, 6).isoformat()],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _outbox(state: str) -> list:
    engine = connect_state(state)
    with engine.connect() as conn:
        rows = conn.execute(sa.select(store.outbox)).all()
    engine.dispose()
    return rows


def _peer_keys(peer: Path) -> Counter:
    if not peer.exists():
        return Counter()
    keys = Counter()
    for line in peer.read_text(encoding="utf-8").splitlines():
        try:
            keys[json.loads(line)["idempotency_key"]] += 1
        except json.JSONDecodeError:  # a line cut by the kill mid-write
            continue
    return keys


def _hand_overs(proc: subprocess.Popen, n: int) -> bool:
    """Wait for the worker's `n`-th hand-over to the peer; False when it finished first."""
    seen = 0
    while seen < n:
        line = proc.stdout.readline()
        if not line or line.strip() == "done":
            return False
        seen += line.startswith("sent ")
    return True


@pytest.mark.postgres
def test_killing_the_worker_at_random_points_sends_everything_exactly_once(tmp_path, pg_database):
    users = [f"p{i:04d}" for i in range(600)]
    url = build(tmp_path / "wh.duckdb", users, [(u, "signup_done", at(1, 2)) for u in users])
    journey = write(tmp_path / "bulk.yaml", BULK)

    reference_state = pg_database()
    ref = _worker(url, reference_state, journey, tmp_path / "ref.jsonl")
    _, errors = ref.communicate(timeout=600)
    assert ref.returncode == 0, errors[-2000:]
    reference = Counter((r.user_id, r.step, r.key.split(":")[3]) for r in _outbox(reference_state))
    assert sum(reference.values()) > 2 * len(users)

    state = pg_database()
    peer = tmp_path / "peer.jsonl"
    rng = random.Random(15)
    kills = 0
    while True:
        proc = _worker(url, state, journey, peer)
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()[-2000:]
        # kill while work remains, at a random moment: after a random number of hand-overs
        # to the peer, then a random pause (mid-dispatch, between commit and answer, in the
        # next tick's advance) — timed by the work, not the clock, so a fast machine finishing
        # early cannot skip a kill
        many = KILLS > 10  # the long run: kill sooner, or the work runs out before the kills
        if kills < KILLS and _hand_overs(proc, 1 if many else rng.randint(1, 2)):
            time.sleep(rng.uniform(0.0, 0.01 if many else 0.05))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills += 1
            continue
        _, errors = proc.communicate(timeout=600)
        assert proc.returncode == 0, errors[-2000:]
        break
    assert kills == KILLS

    rows = _outbox(state)
    got = Counter((r.user_id, r.step, r.key.split(":")[3]) for r in rows)
    assert got == reference  # nothing missed, nothing twice
    assert all(r.status == "sent" for r in rows)
    messages = {r.key for r in rows if r.kind == "message"}
    at_peer = _peer_keys(peer)
    assert set(at_peer) == messages  # every message reached the peer, under its one key
    # a kill between the peer's answer and the commit leaves rows `sending`; the restart
    # hands them over again under the SAME key and the peer (deduplicating, as providers
    # that take an idempotency key do) keeps one line: nothing reaches the patient twice
    repeated = sum(n - 1 for n in at_peer.values())
    print(
        f"kills={kills} outbox={len(rows)} peer_lines={sum(at_peer.values())} repeated={repeated}"
    )
    assert repeated == 0


@pytest.mark.postgres
def test_two_workers_at_once_share_the_work_and_repeat_nothing(tmp_path, pg_database):
    users = [f"q{i:04d}" for i in range(400)]
    url = build(tmp_path / "wh.duckdb", users, [(u, "signup_done", at(1, 2)) for u in users])
    journey = write(tmp_path / "bulk.yaml", BULK)
    reference_state = pg_database()
    ref = _worker(url, reference_state, journey, tmp_path / "ref.jsonl")
    _, errors = ref.communicate(timeout=600)
    assert ref.returncode == 0, errors[-2000:]
    reference = Counter((r.user_id, r.step, r.key.split(":")[3]) for r in _outbox(reference_state))

    state = pg_database()
    peer = tmp_path / "peer.jsonl"
    engine = connect_state(state)  # migrate once, before the two start
    from careops.state.store import migrate

    migrate(engine)
    engine.dispose()
    procs = [_worker(url, state, journey, peer) for _ in range(2)]
    for p in procs:
        _, errors = p.communicate(timeout=600)
        assert p.returncode == 0, errors[-2000:]
    rows = _outbox(state)
    assert Counter((r.user_id, r.step, r.key.split(":")[3]) for r in rows) == reference
    at_peer = _peer_keys(peer)
    assert set(at_peer) == {r.key for r in rows if r.kind == "message"}
    assert max(at_peer.values()) == 1  # no message handed over twice
