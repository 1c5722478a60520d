"""`careops` commands as separate processes on one Spark warehouse share its catalog.

Each command starts its own Spark application (a JVM, ~15–60 s here), so these tests are
`slow`; results are compared with the same commands on DuckDB.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path
from urllib.parse import urlparse

import psycopg
import pytest

from tests.ingest.conftest import write
from tests.ingest.test_portability import FILES

pytestmark = [pytest.mark.spark, pytest.mark.slow]

AS_OF = "2025-02-01"


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CAREOPS_")}
    env |= {
        "CAREOPS_CONFIG": "",
        "CAREOPS_WAREHOUSE": "spark://local",
        "CAREOPS_STATE": f"sqlite:///{tmp_path / 'state.db'}",
        "CAREOPS_SPARK__WAREHOUSE_DIR": str(tmp_path / "wh"),
        "CAREOPS_SPARK__DRIVER_MEMORY": "1g",
        "SPARK_LOCAL_IP": "127.0.0.1",
    }
    return env | extra


def _careops(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "careops", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
    )


def _ok(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def _inputs(tmp_path: Path) -> Path:
    folder = tmp_path / "in"
    for name, text in FILES.items():
        write(folder / name, text)
    return folder


def _duckdb(run_cli, tmp_path: Path, folder: Path) -> tuple[dict, list]:
    url = f"duckdb:///{tmp_path / 'ref.duckdb'}"
    for args in (("init", "-w", url), ("ingest", str(folder), "-w", url)):
        code, _, err = run_cli(*args)
        assert code == 0, err
    code, tables, err = run_cli("tables", "--json", "-w", url)
    assert code == 0, err
    code, layers, err = run_cli("layers", "--as-of", AS_OF, "--json", "-w", url)
    assert code == 0, err
    return json.loads(tables), json.loads(layers)


def test_separate_commands_share_one_catalog(tmp_path, run_cli):
    folder = _inputs(tmp_path)
    tables, layers = _duckdb(run_cli, tmp_path, folder)
    assert tables["patients"] == 3 and tables["orders"] == 60
    env, work = _env(tmp_path), tmp_path / "cwd"
    work.mkdir()

    # a read before init: a clear failure, not an empty table list with exit 0
    before = _careops(env, work, "tables", "--json")
    assert before.returncode != 0
    assert "careops init" in before.stderr and "patients" in before.stderr
    assert before.stdout.strip() == ""

    _ok(_careops(env, work, "init"))
    _ok(_careops(env, work, "ingest", str(folder)))
    spark_layers = json.loads(_ok(_careops(env, work, "layers", "--as-of", AS_OF, "--json")))
    assert spark_layers == layers
    # the catalog lives under the warehouse folder, not in the working directory
    assert (tmp_path / "wh" / "metastore_db").is_dir()
    assert not (work / "metastore_db").exists() and not (work / "derby.log").exists()

    # the catalog is lost (a new metastore): init adopts the table folders, nothing reloaded
    shutil.rmtree(tmp_path / "wh" / "metastore_db")
    again = _careops(env, work, "init")
    _ok(again)
    assert "adopted the table folder" in again.stderr
    assert json.loads(_ok(_careops(env, work, "tables", "--json"))) == tables


def _pg_jdbc_jar() -> Path | None:
    """The PostgreSQL JDBC driver: CAREOPS_TEST_PG_JDBC_JAR, Debian's libpostgresql-jdbc-java
    (`make services` installs it), or a Maven download."""
    given = os.environ.get("CAREOPS_TEST_PG_JDBC_JAR")
    if given:
        return Path(given)
    debian = Path("/usr/share/java/postgresql.jar")
    if debian.is_file():
        return debian
    found = sorted(Path.home().glob(".m2/repository/org/postgresql/postgresql/*/postgresql-*.jar"))
    return found[-1] if found else None


@pytest.mark.postgres
def test_metastore_on_postgresql(tmp_path, pg_database):
    """A cluster's catalog: the metastore in a PostgreSQL database, found by every process.
    The database starts empty: the first command creates the metastore's tables (all at once;
    made lazily they deadlock on PostgreSQL), the next finds them and the CareOps tables."""
    jar = _pg_jdbc_jar()
    if jar is None or not jar.is_file():
        message = "the PostgreSQL JDBC driver jar is missing: run `make services`"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    url = urlparse(pg_database())
    database = f"careops_{uuid.uuid4().hex[:8]}"
    env = _env(
        tmp_path,
        CAREOPS_SPARK__METASTORE_URL=f"jdbc:postgresql://{url.hostname}:{url.port}{url.path}",
        CAREOPS_SPARK__METASTORE_USER=url.username or "postgres",
        CAREOPS_SPARK__JARS=json.dumps([str(jar)]),
        CAREOPS_WAREHOUSE=f"spark://local/{database}",
    )
    work = tmp_path / "cwd"
    work.mkdir()
    _ok(_careops(env, work, "init"))
    counts = json.loads(_ok(_careops(env, work, "tables", "--json")))
    assert counts["patients"] == 0 and len(counts) == 16
    assert not (tmp_path / "wh" / "metastore_db").exists()  # no Derby beside it
    with psycopg.connect(url.geturl()) as pg:
        names = {r[0] for r in pg.execute('SELECT "TBL_NAME" FROM "TBLS"').fetchall()}
        dbs = {r[0] for r in pg.execute('SELECT "NAME" FROM "DBS"').fetchall()}
    assert {"patients", "orders", "_loads", "contacts"} <= names
    assert database in dbs
