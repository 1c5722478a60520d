"""Open a warehouse from a URL: `duckdb:///path`, `postgresql://…`, `spark://local`."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext, suppress
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.errors import CareOpsError, ConfigError, WarehouseBusy, WarehouseError
from careops.privacy.redact import redact

Backend = BaseBackend
Kind = Literal["duckdb", "postgres", "pyspark"]


def backend_kind(con: BaseBackend) -> Kind:
    """Which engine a connection runs on."""
    name = con.name
    if name not in ("duckdb", "postgres", "pyspark"):
        raise WarehouseError(f"不支持的仓库引擎 {name!r} / unsupported warehouse backend {name!r}")
    return name  # type: ignore[return-value]


log = logging.getLogger("careops.warehouse")


@contextmanager
def warehouse(
    url: str | None = None, *, read_only: bool = False, wait_s: float = 0.0, existing: bool = False
) -> Iterator[BaseBackend]:
    """The one way to open the warehouse: `with warehouse(url, read_only=True) as con: ...`.

    The connection is closed when the block ends, also on an exception (an open DuckDB handle
    kept alive by a traceback would lock the file against the next process). `read_only`: a
    warehouse that does not exist is an error, nothing is created, and DuckDB opens the file
    read-only so that any number of readers can run beside each other. `wait_s`: a DuckDB file
    another process holds is retried this long before `WarehouseBusy`. `existing`: writing,
    but only into a warehouse that is there (erasing a patient, recording a consent): a missing
    DuckDB file is an error instead of a new, empty warehouse.

    In a service process that owns an embedded warehouse (`own`), every open of it goes through
    the service's gate instead: one connection mode, writers one at a time.
    """
    if existing and not read_only:
        _must_exist(url)
    gate = _gate_of(url)
    if gate is not None:
        with gate.open(read_only=read_only) as con:
            yield con
        return
    con = _connect_waiting(url, read_only, wait_s)
    try:
        yield con
    finally:
        close(con)


def _connect_waiting(url: str | None, read_only: bool, wait_s: float) -> BaseBackend:
    """`connect`, retrying a DuckDB file held by another process for up to `wait_s` seconds."""
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            return connect(url, read_only=read_only)
        except WarehouseBusy as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait_s:
                    raise WarehouseBusy(f"{exc} (已等待 / waited {wait_s:g} s)") from None
                raise
            if not told:  # once, on stderr when nothing else is configured (the CLI)
                log.warning(
                    "仓库正被另一个进程使用, 最多等待 %g 秒 / the warehouse is held by another "
                    "process (careops serve, ingest, tags compute?): waiting up to %g s",
                    wait_s,
                    wait_s,
                )
                told = True
            time.sleep(min(0.2, left))


class Gate:
    """A service process's way into its embedded (DuckDB) warehouse file.

    DuckDB lets one process write a file, and inside one process refuses to open a file
    read-only while it is open read-write. So the service opens the file only for as long as a
    request or job needs it (between uses a CLI command may take it), always in the same
    read-write mode (DuckDB then shares one database instance between the threads), and lets
    one writer in at a time; readers run beside each other and beside the writer. When a CLI
    command holds the file, the service waits up to `wait_s`, then answers `WarehouseBusy`.
    """

    def __init__(self, url: str, wait_s: float = 10.0) -> None:
        self.url = url
        self.path = Path(duckdb_path(url))
        self.wait_s = wait_s
        self._writer = threading.RLock()

    @contextmanager
    def open(self, *, read_only: bool = False) -> Iterator[BaseBackend]:
        """The warehouse for one use; `read_only=False` waits for the service's other writer."""
        if read_only and not self.path.is_file():
            raise WarehouseError(_missing(str(self.path)))
        with nullcontext() if read_only else self._writer:
            con = _connect_waiting(self.url, False, self.wait_s)
            try:
                yield con
            finally:
                close(con)


_GATES: dict[str, Gate] = {}


def own(url: str, wait_s: float = 10.0) -> Gate | None:
    """Declare this process (the service) the owner of the embedded warehouse at `url`: from
    now on every `warehouse(url)` here goes through its `Gate`. None for a server warehouse
    (PostgreSQL, Spark), which many processes share by themselves."""
    if urlparse(url).scheme.lower() != "duckdb" or duckdb_path(url) in ("", ":memory:"):
        return None
    key = str(Path(duckdb_path(url)).resolve())
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = Gate(url, wait_s)
    gate.wait_s = wait_s
    return gate


def disown(url: str) -> None:
    """Forget the gate of `url` (the service stopped)."""
    if urlparse(url).scheme.lower() == "duckdb":
        _GATES.pop(str(Path(duckdb_path(url)).resolve()), None)


def _gate_of(url: str | None) -> Gate | None:
    if not _GATES:
        return None
    if url is None:
        from careops.config import get_settings

        url = get_settings().warehouse
    if not url.lower().startswith("duckdb://"):
        return None
    path = duckdb_path(url)
    if path in ("", ":memory:"):
        return None
    return _GATES.get(str(Path(path).resolve()))


def close(con: BaseBackend) -> None:
    """Close a connection opened by `connect` (the process' shared Spark session stays up)."""
    if con.name == "pyspark":
        return
    with suppress(Exception):  # closing twice, or a connection the server already dropped
        con.disconnect()


def connect(url: str | None = None, *, read_only: bool = False) -> BaseBackend:
    """Connect to the warehouse at `url` (default: the `warehouse` setting); prefer `warehouse()`,
    which closes the connection.

    `read_only`: for commands that only read; a warehouse that does not exist is an error
    (nothing is created) and a DuckDB file is opened read-only.
    """
    if url is None:
        from careops.config import get_settings

        url = get_settings().warehouse
    parsed = urlparse(url)
    scheme = parsed.scheme.lower()
    try:
        if scheme == "duckdb":
            return _duckdb(url, read_only)
        if scheme in ("postgresql", "postgres"):
            return _postgres(parsed)
        if scheme == "spark":
            return _spark(parsed, read_only)
    except CareOpsError:
        raise
    except Exception as exc:
        raise WarehouseError(
            f"无法打开仓库 {redact(url)} / cannot open warehouse {redact(url)}: {exc}",
            field="warehouse",
        ) from exc
    raise ConfigError(
        f"无法识别的仓库 URL {redact(url)!r} / unknown warehouse URL {redact(url)!r}: use "
        "duckdb:///path/to/file.duckdb, postgresql://user@host:5432/db or spark://local",
        field="warehouse",
    )


def scratch() -> BaseBackend:
    """An in-memory DuckDB for intermediate work (ingestion validation, small frames)."""
    con = ibis.duckdb.connect(":memory:", threads=os.cpu_count() or 2)
    con.raw_sql("SET enable_progress_bar = false")  # keep stdout clean for `--json`
    return con


def run_arrow(con: BaseBackend, sql: str, tables: dict[str, pa.Table]) -> pa.Table:
    """Run `sql` on a DuckDB connection (a `scratch()` one) with Arrow `tables` visible under
    their names for the query only (zero-copy); the result as Arrow."""
    raw = con.con
    for name, table in tables.items():
        raw.register(name, table)
    try:
        return raw.execute(sql).fetch_arrow_table()
    finally:
        for name in tables:
            raw.unregister(name)


def duckdb_path(url: str) -> str:
    """The file of a `duckdb://` URL: duckdb:///rel/path -> rel/path, duckdb:////abs -> /abs."""
    path = url[len("duckdb://") :]
    return path[1:] if path.startswith("/") else path


def _duckdb(url: str, read_only: bool) -> BaseBackend:
    path = duckdb_path(url)
    if path in ("", ":memory:"):
        return ibis.duckdb.connect(":memory:")
    if read_only and not Path(path).is_file():
        raise WarehouseError(_missing(path), field="warehouse")
    if not read_only:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    try:
        return ibis.duckdb.connect(path, read_only=read_only)
    except Exception as exc:
        if "lock" in str(exc).lower():
            raise WarehouseBusy(_busy(path, read_only)) from None
        raise


def _busy(path: str, read_only: bool) -> str:
    doing = "读取" if read_only else "写入"
    return (
        f"仓库 {path} 正被另一个进程写入, 暂时无法{doing}; 等它结束(如正在运行的 careops "
        f"ingest / tags compute / serve)后重试, 或通过服务的 API 写入 / the warehouse {path} is "
        "held by another process writing to it (DuckDB allows one writer); retry when it has "
        "finished (a command's wait option, or CAREOPS_SERVICE__CLI_WAIT_S), or, when "
        "`careops serve` owns it, send the change through the service's API"
    )


def _postgres(parsed) -> BaseBackend:
    query = {k: v[-1] for k, v in parse_qs(parsed.query).items()}
    return ibis.postgres.connect(
        host=parsed.hostname or "127.0.0.1",
        port=parsed.port or 5432,
        user=unquote(parsed.username) if parsed.username else "postgres",
        password=unquote(parsed.password) if parsed.password else None,
        database=(parsed.path or "/postgres").lstrip("/") or "postgres",
        schema=query.get("schema"),
    )


def _must_exist(url: str | None) -> None:
    """`WarehouseError` when `url` names a DuckDB file that is not there."""
    from careops.config import get_settings

    url = url or get_settings().warehouse
    if urlparse(url).scheme.lower() != "duckdb":
        return  # a server warehouse: its absence shows as a connection error
    path = duckdb_path(url)
    if path not in ("", ":memory:") and not Path(path).is_file():
        raise WarehouseError(_missing(path), field="warehouse")


def _missing(where: str) -> str:
    return (
        f"仓库不存在 / warehouse {where} does not exist; check the warehouse URL (setting "
        "CAREOPS_WAREHOUSE), or create it with `careops init` / `careops ingest`"
    )


def _spark(parsed, read_only: bool) -> BaseBackend:
    """`spark://local[/database]` (the `spark.master` setting) or `spark://host:7077[/db]`.

    Reads need the canonical tables (a fresh metastore would answer empty results); writes
    create the database and adopt table folders the catalog lost (careops.warehouse.spark)."""
    from careops.config import get_settings
    from careops.warehouse import spark

    settings = get_settings().spark
    master = settings.master if parsed.netloc in ("", "local") else f"spark://{parsed.netloc}"
    database = parsed.path.strip("/") or "default"
    session = spark.spark_session(master, settings)
    with spark.catalog_errors(spark.warehouse_uri(settings.warehouse_dir)):
        con = ibis.pyspark.connect(session)
        spark.use_database(session, database, create=not read_only)
        expected = _spark_tables()
        if read_only:
            spark.require_tables(session, database, list(expected))
        else:
            spark.adopt_table_folders(session, database, expected)
    return con


def _spark_tables() -> dict[str, tuple[ibis.Schema, tuple[str, ...]]]:
    """The tables `careops init` creates on Spark → (schema, key columns)."""
    from careops.schema import TABLES
    from careops.warehouse.tables import SYSTEM_TABLES

    canonical = {n: (spec.ibis_schema(), tuple(spec.key)) for n, spec in TABLES.items()}
    return canonical | {n: (schema, ("load_id",)) for n, schema in SYSTEM_TABLES.items()}
