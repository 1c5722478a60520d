"""One thread that runs the registered jobs when due, one after the other; a failing job is
logged and retried at its next time, never stops the others."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from careops.worker.jobs import Job

if TYPE_CHECKING:
    from careops.service import Ops

log = logging.getLogger("careops.worker")


@dataclass
class Runs:
    """What the worker did: per job, the last run's time, result or error, and a count."""

    last: dict[str, dt.datetime] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    error: dict[str, str] = field(default_factory=dict)
    count: dict[str, int] = field(default_factory=dict)


class Worker:
    """Runs `jobs` on a thread: `start()`, `stop()` (which runs `final` jobs once more)."""

    def __init__(
        self,
        ops: Ops,
        jobs: list[Job],
        tick_s: float = 1.0,
        clock: Callable[[], dt.datetime] | None = None,
    ) -> None:
        self.ops = ops
        self.jobs = jobs
        self.tick_s = tick_s
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.runs = Runs()
        self._due = {job.name: job.schedule.next_after(None, self.clock()) for job in jobs}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None and self.jobs:
            self._thread = threading.Thread(target=self._loop, name="careops-worker", daemon=True)
            self._thread.start()

    def stop(self, final: tuple[str, ...] = ("intake.flush",)) -> None:
        """Stop the loop, then run the `final` jobs once (nothing accepted is left behind)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        for job in self.jobs:
            if job.name in final:
                self.run(job)

    def run_due(self) -> list[str]:
        """Run every job that is due now; return their names."""
        ran = []
        for job in self.jobs:
            now = self.clock()
            if self._due[job.name] <= now:
                self.run(job)
                self._due[job.name] = job.schedule.next_after(now, now)
                ran.append(job.name)
        return ran

    def run(self, job: Job) -> None:
        """Run one job now, recording its outcome."""
        runs = self.runs
        try:
            runs.result[job.name] = job.run(self.ops)
            runs.error.pop(job.name, None)
        except Exception as exc:  # a job's failure is reported, the worker goes on
            runs.error[job.name] = f"{type(exc).__name__}: {exc}"
            log.warning("job %s failed: %s", job.name, runs.error[job.name])
        runs.last[job.name] = self.clock()
        runs.count[job.name] = runs.count.get(job.name, 0) + 1

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(self.tick_s)
