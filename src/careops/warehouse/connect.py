"""Open a warehouse from a URL: `duckdb:///path`, `postgresql://…`, `spark://local`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, unquote, urlparse

import ibis
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


@contextmanager
def warehouse(url: str | None = None, *, read_only: bool = False) -> Iterator[BaseBackend]:
    """The one way to open the warehouse: `with warehouse(url, read_only=True) as con: ...`.

    The connection is closed when the block ends, also on an exception (an open DuckDB handle
    kept alive by a traceback would lock the file against the next process). `read_only`: a
    warehouse that does not exist is an error, nothing is created, and DuckDB opens the file
    read-only so that any number of readers can run beside each other.
    """
    con = connect(url, read_only=read_only)
    try:
        yield con
    finally:
        close(con)


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
        f"ingest / tags compute / serve)后重试 / the warehouse {path} is held by another "
        "process writing to it (DuckDB allows one writer); retry when it has finished"
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


def _missing(where: str) -> str:
    return (
        f"仓库不存在 / warehouse {where} does not exist; check the warehouse URL (setting "
        "CAREOPS_WAREHOUSE), or create it with `careops init` / `careops ingest`"
    )


def _spark(parsed, read_only: bool) -> BaseBackend:
    from careops.config import get_settings
    from careops.warehouse.spark import spark_session

    settings = get_settings().spark
    master = settings.master if parsed.netloc in ("", "local") else f"spark://{parsed.netloc}"
    session = spark_session(master, settings)
    con = ibis.pyspark.connect(session)
    database = parsed.path.lstrip("/")
    if database and read_only and not session.catalog.databaseExists(database):
        raise WarehouseError(_missing(f"spark database {database!r}"), field="warehouse")
    if database:
        con.create_database(database, force=True)
        session.catalog.setCurrentDatabase(database)
    return con
