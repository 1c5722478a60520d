"""CareOps on a Spark standalone cluster: a master and two workers on loopback, started from the
installed pyspark, and `careops` commands as separate processes (each its own Spark
application, whose executors run on the workers) with results equal to DuckDB's.

Kept small: one cluster for the module, three patients, workers of one core and 512 MB.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from careops.config import get_settings
from tests.ingest.conftest import write
from tests.ingest.test_portability import FILES

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = "2025-02-01"
RULE = 'sex == "F" or spend_cny > 100'


class Cluster:
    """A Spark standalone master and its workers, as processes of their own (killed at the end)."""

    def __init__(self, root: Path) -> None:
        from pyspark.find_spark_home import _find_spark_home

        self.root = root
        self.home = Path(_find_spark_home())
        self.procs: list[tuple[subprocess.Popen, Path]] = []
        self.env = os.environ | {
            "SPARK_HOME": str(self.home),
            "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_DAEMON_MEMORY": "128m",
            "SPARK_NO_DAEMONIZE": "1",
        }

    def _start(self, name: str, cls: str, *args: str) -> Path:
        log = self.root / f"{name}.log"
        proc = subprocess.Popen(
            [str(self.home / "bin" / "spark-class"), cls, *args],
            env=self.env,
            cwd=self.root,
            stdout=log.open("w"),
            stderr=subprocess.STDOUT,
        )
        self.procs.append((proc, log))
        return log

    def _wait(self, log: Path, pattern: str, timeout: float = 180) -> re.Match:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            found = re.search(pattern, log.read_text(errors="replace"))
            if found:
                return found
            if any(p.poll() is not None for p, _ in self.procs):
                break
            time.sleep(0.3)
        raise AssertionError(f"{log.name}: no {pattern!r}\n{log.read_text()[-3000:]}")

    def start(self, workers: int = 2) -> str:
        """Start the master (a free port) and `workers` workers; the master's URL when all
        workers have registered."""
        master = self._start(
            "master",
            "org.apache.spark.deploy.master.Master",
            *("--host", "127.0.0.1", "--port", "0", "--webui-port", "0"),
        )
        url = self._wait(master, r"Starting Spark master at (spark://[\d.]+:\d+)").group(1)
        for i in range(workers):
            work = self.root / f"worker{i}"
            work.mkdir()
            self._start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                *("--host", "127.0.0.1", "--port", "0", "--webui-port", "0"),
                *("--cores", "1", "--memory", "512m", "--work-dir", str(work), url),
            )
        for i in range(workers):
            self._wait(self.root / f"worker{i}.log", r"Successfully registered with master")
        return url

    def stop(self) -> None:
        for proc, _ in reversed(self.procs):
            proc.terminate()
        for proc, _ in self.procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def executor_logs(self) -> list[Path]:
        """The stderr files of the executors the workers ran (one folder per application)."""
        return sorted(self.root.glob("worker*/app-*/*/stderr"))


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Iterator[tuple[str, Cluster]]:
    cluster = Cluster(tmp_path_factory.mktemp("cluster"))
    try:
        yield cluster.start(), cluster
    finally:
        cluster.stop()


def _careops(env: dict[str, str], cwd: Path, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "careops", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, f"careops {' '.join(args)}\n{done.stderr[-3000:]}"
    return done.stdout


def _env(root: Path, warehouse: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREOPS_")}
    return env | {
        "CAREOPS_CONFIG": "",
        "CAREOPS_WAREHOUSE": warehouse,
        "CAREOPS_STATE": f"sqlite:///{root / 'state.db'}",
        "CAREOPS_SPARK__WAREHOUSE_DIR": str(root / "wh"),
        "CAREOPS_SPARK__DRIVER_MEMORY": "512m",
        "CAREOPS_SPARK__EXECUTOR_MEMORY": "512m",
        "CAREOPS_SPARK__DRIVER_HOST": "127.0.0.1",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }


def _commands(folder: Path) -> list[tuple[str, ...]]:
    """What each engine runs, in order; the outputs of the reads are compared."""
    return [
        ("ingest", str(folder)),
        ("tags", "compute", "--as-of", AS_OF),
        ("tables", "--json"),
        ("layers", "--as-of", AS_OF, "--json"),
        ("segment", "count", "--where", RULE, "--as-of", AS_OF, "--json"),
        ("metrics", "arpu", "--as-of", AS_OF, "--window-days", "60", "--json"),
    ]


def _outputs(run, folder: Path) -> dict[str, object]:
    """Run the commands with `run(*args) -> stdout`; the JSON of the reads by command."""
    out = {}
    for args in _commands(folder):
        text = run(*args)
        if "--json" in args:
            out[args[0]] = json.loads(text)
    return out


def test_separate_commands_on_a_standalone_cluster(cluster, tmp_path, run_cli, monkeypatch):
    url, running = cluster
    folder = tmp_path / "in"
    for name, text in FILES.items():
        write(folder / name, text)

    def duckdb(*args: str) -> str:  # the reference, in this process (no JVM)
        code, out, err = run_cli(*args)
        assert code == 0, f"careops {' '.join(args)}\n{err}"
        return out

    monkeypatch.setenv("CAREOPS_WAREHOUSE", f"duckdb:///{tmp_path / 'ref.duckdb'}")
    get_settings.cache_clear()
    expected = _outputs(duckdb, folder)
    assert expected["tables"]["patients"] == 3 and expected["tables"]["consents"] == 3
    assert expected["segment"]["count"] > 0

    work = tmp_path / "spark"
    work.mkdir()
    env = _env(work, f"{url}/careops")
    got = _outputs(lambda *args: _careops(env, work, *args), folder)
    assert got == expected
    # the work ran on the cluster's executors (on both workers), not in the driver
    workers = {p.parts[-4] for p in running.executor_logs()}
    assert workers == {"worker0", "worker1"}
