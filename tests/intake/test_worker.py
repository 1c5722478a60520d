"""The service's worker: schedules, running what is due, surviving a failing job, the final
flush at stop; `--with-worker` adds the nightly tag snapshot."""

from __future__ import annotations

import datetime as dt

from careops.service import Ops
from careops.worker import Daily, Every, Job, Worker, default_jobs

UTC = dt.UTC


def at(*args) -> dt.datetime:
    return dt.datetime(*args, tzinfo=UTC)


def test_daily_runs_at_the_local_time_and_a_late_start_waits_for_tomorrow():
    nightly = Daily("02:30", "Asia/Shanghai")  # 18:30 UTC the day before
    assert nightly.next_after(None, at(2026, 6, 1, 12)) == at(2026, 6, 1, 18, 30)
    assert nightly.next_after(None, at(2026, 6, 1, 19)) == at(2026, 6, 2, 18, 30)
    ran = at(2026, 6, 1, 18, 30, 5)
    assert nightly.next_after(ran, ran) == at(2026, 6, 2, 18, 30)
    assert Every(5).next_after(None, ran) == ran
    assert Every(5).next_after(ran, ran) == ran + dt.timedelta(seconds=5)


def test_due_jobs_run_and_a_failing_one_does_not_stop_the_others():
    now = [at(2026, 6, 1, 12)]
    calls: list[str] = []

    def boom(ops):
        raise RuntimeError("disk full")

    jobs = [
        Job("often", Every(10), lambda ops: calls.append("often")),
        Job("broken", Every(10), boom),
        Job("nightly", Daily("02:30", "Asia/Shanghai"), lambda ops: calls.append("nightly")),
    ]
    w = Worker(Ops.open(), jobs, clock=lambda: now[0])
    assert w.run_due() == ["often", "broken"]
    assert w.runs.error["broken"] == "RuntimeError: disk full"
    now[0] += dt.timedelta(seconds=5)
    assert w.run_due() == []
    now[0] = at(2026, 6, 1, 18, 30)
    assert w.run_due() == ["often", "broken", "nightly"]
    assert calls == ["often", "often", "nightly"] and w.runs.count["broken"] == 2


def test_stop_runs_the_flush_once_more():
    calls: list[str] = []
    w = Worker(Ops.open(), [Job("intake.flush", Every(3600), lambda ops: calls.append("f"))])
    w.start()
    w.stop()
    assert calls[-1] == "f" and len(calls) >= 1


def test_the_service_flushes_always_and_snapshots_with_the_worker():
    ops = Ops.open()
    assert [j.name for j in default_jobs(ops, scheduled=False)] == ["intake.flush"]
    assert [j.name for j in default_jobs(ops, scheduled=True)] == [
        "intake.flush",
        "tags.snapshot",
        "journeys.tick",
    ]
    pg = Ops.open(warehouse="postgresql://postgres@127.0.0.1:5432/nowhere")
    assert [j.name for j in default_jobs(pg, scheduled=True)] == ["tags.snapshot", "journeys.tick"]


def test_the_nightly_snapshot_stores_todays_tags(monkeypatch):
    import pyarrow as pa

    from careops.warehouse import create_tables
    from careops.worker import jobs as worker_jobs
    from tests.conftest import fill

    ops = Ops.open()
    with ops.warehouse() as con:
        create_tables(con)
        fill(con, {"patients": pa.table({"user_id": ["p1"], "registered_at": [at(2025, 1, 1)]})})
    monkeypatch.setattr("careops.service.now", lambda: at(2026, 6, 1, 18, 0))  # 02:00 local
    result = worker_jobs.snapshot(ops)
    assert (result.as_of, result.patients) == (dt.date(2026, 6, 2), 1)
