"""Starting and stopping a service's worker: the service takes ownership of its embedded
warehouse (one connection mode, writers one at a time) and runs its jobs on a thread."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careops.worker.jobs import default_jobs
from careops.worker.loop import Worker

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from careops.config import Settings


def start_worker(
    settings: Settings, warehouse_url: str, state_url: str, engine: Engine, scheduled: bool
) -> Worker:
    """Own the warehouse (DuckDB) and start the jobs the service runs."""
    from careops.service import Actor, Ops
    from careops.warehouse.connect import own

    own(warehouse_url, settings.service.busy_wait_s)
    ops = Ops.open(
        warehouse=warehouse_url,
        state=state_url,
        # a CareOps job: it holds the scopes it is given (what its jobs may do), no role
        actor=Actor(name="worker", kind="system", scopes=("tags.compute", "events.write")),
        settings=settings,
        shared_state=engine,
    )
    jobs = default_jobs(ops, scheduled=scheduled)
    every = [j.schedule.seconds for j in jobs if hasattr(j.schedule, "seconds")]
    worker = Worker(ops, jobs, tick_s=min([settings.service.tick_s, *every]))
    worker.start()
    return worker


def stop_worker(worker: Worker) -> None:
    """Stop the jobs, flush what was accepted, give the warehouse back."""
    from careops.intake.journal import close_journal, journal_path
    from careops.warehouse.connect import disown

    try:
        worker.stop()
    finally:
        ops = worker.ops
        disown(ops.warehouse_url)
        path = journal_path(ops.warehouse_url, ops.settings)
        if path is not None:
            close_journal(path)
