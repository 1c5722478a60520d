"""The service's in-process worker: a small registry of jobs and one thread that runs them
when due (`careops serve --with-worker`)."""

from careops.worker.jobs import Daily, Every, Job, default_jobs
from careops.worker.loop import Worker

__all__ = ["Daily", "Every", "Job", "Worker", "default_jobs"]
