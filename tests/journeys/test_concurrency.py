"""Two worker processes at once on PostgreSQL, each running one journey, both holding a claimed
batch of the same patients at the same moment: the per-patient lock (`store.lock_patients`)
makes the second wait for the first and count its sends, so a cap of one service message a day
holds for every patient (without the lock both read an empty history and every patient gets
two)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
import sqlalchemy as sa

from careops.journeys import store
from careops.state.store import connect_state, migrate
from tests.journeys.engine_fixtures import at, build, write

ROOT = Path(__file__).parents[2]

JOURNEY = """
key: {key}
name: {{zh: 并发{key}, en: Concurrent {key}}}
version: 1
trigger: {{kind: event, event: signup_done}}
steps:
  - {{id: hello, type: message, purpose: service, channel: sms, next: exit,
     template: {{zh: 服务提醒。, en: A reminder.}}}}
reentry: {{policy: never}}
"""


def _enrol(state: str, users: list[str], keys: list[str], now) -> None:
    """Both journeys' enrolments of each patient next to each other in claim order."""
    engine = connect_state(state)
    migrate(engine)
    rows = [
        {"journey": k, "version": 1, "user_id": u, "entry_no": 1, "entered_at": now,
         "status": "active", "step": "hello", "seq": 0, "step_at": now, "waiting": False,
         "next_due": now}
        for u in users
        for k in keys
    ]  # fmt: skip
    with engine.begin() as conn:
        conn.execute(sa.insert(store.enrolments), rows)
        conn.execute(sa.insert(store.cursors), [{"journey": k, "checked_at": now} for k in keys])
        store.add_patients(conn, users)
    engine.dispose()


@pytest.mark.postgres
def test_two_workers_at_once_keep_a_patients_cap(tmp_path, pg_database):
    users = [f"c{i:03d}" for i in range(40)]
    url = build(tmp_path / "wh.duckdb", users, [(u, "app_open", at(1, 1)) for u in users])
    files = [write(tmp_path / f"{k}.yaml", JOURNEY.format(key=k)) for k in ("cap_a", "cap_b")]
    state = pg_database()
    now = at(3, 2)  # 10:00 in Shanghai: no quiet hours
    _enrol(state, users, ["cap_a", "cap_b"], now)

    meet = tmp_path / "meet"
    meet.mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        "CAREOPS_JOURNEYS__CAPS": '{"service": {"per_day": 1}}',
    }
    procs = []
    for f in files:
        cmd = [sys.executable, "-m", "tests.journeys.cap_worker", url, state]
        cmd += [now.isoformat(), str(meet), str(f)]
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True}
        procs.append(subprocess.Popen(cmd, cwd=ROOT, env=env, **pipes))
    for p in procs:
        assert p.stdout.readline().strip() == "ready", p.stderr.read()[-2000:]
    (meet / "go").touch()
    reports = []
    for p in procs:
        out, errors = p.communicate(timeout=300)
        assert p.returncode == 0, errors[-2000:]
        reports.append(out.strip())
    assert len(list(meet.glob("claimed-*"))) == 2  # both held a batch at once

    engine = connect_state(state)
    with engine.connect() as conn:
        sent = Counter(conn.execute(sa.select(store.outbox.c.user_id)).scalars())
        capped = Counter(
            conn.execute(
                sa.select(store.decisions.c.user_id).where(
                    store.decisions.c.action == "suppress", store.decisions.c.reason == "cap_day"
                )
            ).scalars()
        )
        left = conn.execute(
            sa.select(sa.func.count()).where(store.enrolments.c.status == "active")
        ).scalar()
    engine.dispose()
    assert left == 0
    over = {u: n for u, n in sent.items() if n > 1}
    assert not over, f"{len(over)} patients got two service messages in one day: {over}"
    assert set(sent) == set(users)  # each one got exactly one …
    assert capped == Counter(users)  # … and the other was dropped by the cap
