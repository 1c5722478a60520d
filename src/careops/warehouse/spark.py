"""The Spark session behind `spark://` warehouses, with a catalog that outlives the process.

Tables are Parquet files under `spark.warehouse_dir` (a path or a URI: file://, hdfs://, s3a://…)
and are listed in a Hive metastore, so `careops init`, `ingest` and `tables` run as separate
processes see the same tables. The metastore is, by default, an embedded Derby database in
`<warehouse_dir>/metastore_db` (no setup; one process at a time); on a cluster, a database on
PostgreSQL (`spark.metastore_url`) or a running metastore service (`spark.metastore_uris`).
See docs/spark.md.

Spark settings given in CareOps' configuration override `spark-defaults.conf`; those left empty
leave it in force (nothing here pins the driver's Java options). The metastore's connection is
set on the running context, before its first use, so its password never appears on a command
line, and a metastore configured outside CareOps (spark-defaults.conf, hive-site.xml) is kept.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from urllib.parse import unquote, urlparse

from careops.config import SparkSettings
from careops.errors import CareOpsError, ConfigError, Conflict, WarehouseBusy, WarehouseError

log = logging.getLogger("careops.warehouse")

METASTORE_DIR = "metastore_db"  # the embedded Derby metastore, inside the warehouse folder
_STAGING = ".adopting-"  # a table folder being adopted (hidden from Spark's file listings)
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")  # scheme: (two letters at least: not C:\)
_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,127}$")  # a table folder Spark would have made
_DRIVERS = {"postgresql": "org.postgresql.Driver", "mysql": "com.mysql.cj.jdbc.Driver"}


def warehouse_uri(location: str) -> str:
    """`spark.sql.warehouse.dir` as a URI: a URI (file://, hdfs://, s3a://…) as given, a plain
    path as the absolute `file:` URI of it (a bare path would mean the cluster's default file
    system, HDFS, to Spark)."""
    if _URI.match(location):
        return location.rstrip("/") or location
    return Path(location).expanduser().resolve().as_uri()


def local_dir(location: str) -> Path | None:
    """The local folder of a warehouse location, or None when it is not on this machine's
    file system (hdfs://, s3a://…)."""
    parsed = urlparse(warehouse_uri(location))
    if parsed.scheme != "file" or parsed.netloc not in ("", "localhost"):
        return None
    return Path(unquote(parsed.path))


def spark_config(master: str, settings: SparkSettings) -> dict[str, str]:
    """The Spark settings CareOps passes when it starts a session (`spark-defaults.conf` holds
    for anything not here): UTC, UI off, the warehouse URI, the catalog, the settings given."""
    conf = {
        "spark.master": master,
        "spark.app.name": "careops",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",  # stderr stays for messages
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.warehouse.dir": warehouse_uri(settings.warehouse_dir),
        "spark.sql.execution.arrow.pyspark.enabled": "true",
        "spark.sql.catalogImplementation": settings.catalog,
    }
    optional = {
        "spark.driver.memory": settings.driver_memory,
        "spark.driver.host": settings.driver_host,
        "spark.driver.bindAddress": settings.driver_bind_address,
        "spark.driver.port": settings.driver_port,
        "spark.blockManager.port": settings.block_manager_port,
        "spark.executor.memory": settings.executor_memory,
        "spark.executor.cores": settings.executor_cores,
        "spark.cores.max": settings.cores_max,
        # shipped to the executors, and on the driver's class path (a JDBC driver must be
        # there: the metastore client does not see jars added to the running context)
        "spark.jars": ",".join(settings.jars) or None,
        "spark.driver.extraClassPath": os.pathsep.join(settings.jars) or None,
    }
    conf |= {k: str(v) for k, v in optional.items() if v is not None}
    return conf | settings.conf


def spark_session(master: str, settings: SparkSettings):
    """Get or create the process' Spark session with CareOps' settings and its metastore (a
    session already running in the process is returned as it is)."""
    if master.startswith("local") and not (settings.driver_host or settings.driver_bind_address):
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")  # one machine: stay on loopback
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    running = SparkContext._active_spark_context is not None  # its catalog is set up already
    builder = SparkSession.builder
    for key, value in spark_config(master, settings).items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    if not running:
        session.sparkContext.setLogLevel("ERROR")
        if session.sparkContext.getConf().get("spark.sql.catalogImplementation") == "hive":
            _configure_metastore(session, settings)
    return session


def _configure_metastore(session, settings: SparkSettings) -> None:
    """Point the Hive client at the metastore of the settings. Runs before the catalog's first
    use (the client reads these then); a metastore configured outside CareOps is kept."""
    jvm = session.sparkContext._jvm
    hconf = session.sparkContext._jsc.hadoopConfiguration()
    if settings.metastore_uris:
        hconf.set("hive.metastore.uris", settings.metastore_uris)
        return
    if settings.metastore_url:
        hconf.set("javax.jdo.option.ConnectionURL", settings.metastore_url)
        kind = settings.metastore_url.split(":", 2)[1]
        if kind in _DRIVERS:
            hconf.set("javax.jdo.option.ConnectionDriverName", _DRIVERS[kind])
        if settings.metastore_user:
            hconf.set("javax.jdo.option.ConnectionUserName", settings.metastore_user)
        if settings.metastore_password:
            password = settings.metastore_password.get_secret_value()
            hconf.set("javax.jdo.option.ConnectionPassword", password)
        if settings.metastore_create:
            for key, value in metastore_schema_conf(_model_classes(jvm)).items():
                hconf.set(key, value)
        return
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    if (
        hconf.get("javax.jdo.option.ConnectionURL")
        or hconf.get("hive.metastore.uris")
        or loader.getResource("hive-site.xml") is not None
    ):
        return  # the operator's own metastore (spark-defaults.conf, hive-site.xml)
    folder = local_dir(settings.warehouse_dir)
    if folder is None:
        raise ConfigError(
            f"仓库 {warehouse_uri(settings.warehouse_dir)} 不在本机, 内嵌的 Derby 元数据库无法放在"
            "那里; 请设置 spark.metastore_url (PostgreSQL) 或 spark.metastore_uris / the "
            f"warehouse {warehouse_uri(settings.warehouse_dir)} is not on this machine, so the "
            "embedded Derby metastore cannot live beside it: set spark.metastore_url "
            "(jdbc:postgresql://…) or spark.metastore_uris (thrift://…), see docs/spark.md"
        )
    folder.mkdir(parents=True, exist_ok=True)
    system = jvm.java.lang.System
    if system.getProperty("derby.system.home") is None:  # derby.log beside the metastore
        system.setProperty("derby.system.home", str(folder))
    hconf.set(
        "javax.jdo.option.ConnectionURL",
        f"jdbc:derby:;databaseName={folder / METASTORE_DIR};create=true",
    )


def metastore_schema_conf(classes: list[str]) -> dict[str, str]:
    """Hive/DataNucleus settings that create the metastore's tables in a database lacking them,
    all of them when the client starts. Created lazily, table by table (DataNucleus' default),
    the first CREATE TABLE deadlocks on PostgreSQL: its DDL runs on a second connection that
    waits for the locks of the first one's open transaction (seen here: the process hung with
    28 of the tables made). Tables already there are checked, not altered."""
    if not classes:
        raise ConfigError(
            "Hive 元数据库的模型 (package.jdo) 不在 Spark 的类路径上 / the Hive metastore's "
            "model (package.jdo) is not on Spark's class path: is this a Spark without Hive "
            "support? Set spark.metastore_create: false and create the schema with Hive's "
            "schematool"
        )
    return {
        "datanucleus.schema.autoCreateAll": "true",
        "hive.metastore.schema.verification": "false",
        "datanucleus.autoStartMechanism": "Classes",
        "datanucleus.autoStartClassNames": ",".join(classes),
    }


def _model_classes(jvm) -> list[str]:
    """The persistent classes of the Hive metastore, from the `package.jdo` its jar carries."""
    loader = jvm.java.lang.Thread.currentThread().getContextClassLoader()
    stream = loader.getResourceAsStream("package.jdo")
    if stream is None:
        return []
    try:
        text = jvm.org.apache.commons.io.IOUtils.toString(stream, "UTF-8")
    finally:
        stream.close()
    return jdo_classes(text)


def jdo_classes(text: str) -> list[str]:
    """The fully qualified class names a JDO metadata file (`package.jdo`) declares."""
    names: list[str] = []
    for package, body in re.findall(r'<package\s+name="([\w.]+)"\s*>(.*?)</package>', text, re.S):
        names += [f"{package}.{c}" for c in re.findall(r'<class\s+name="(\w+)"', body)]
    return names


@contextmanager
def catalog_errors(location: str) -> Iterator[None]:
    """Translate the metastore's failures into CareOps errors: busy (the embedded Derby
    metastore is open in another process) or unreachable, with the cause in one line."""
    try:
        yield
    except CareOpsError:
        raise
    except Exception as exc:
        text = str(exc)
        if "XSDB6" in text or "Another instance of Derby" in text:
            raise WarehouseBusy(
                f"Spark 仓库 {location} 的内嵌元数据库正被另一个进程使用 (如 careops serve); "
                "等它结束后重试, 多个进程同时使用请改用 PostgreSQL 元数据库 / the embedded "
                f"(Derby) metastore of the Spark warehouse {location} is open in another "
                "process (careops serve?); retry when it has finished, or give the deployment "
                "a metastore on PostgreSQL (spark.metastore_url) so that processes can share it"
            ) from None
        raise WarehouseError(
            f"Spark 元数据库不可用 / the Spark warehouse's metastore failed: {_cause(exc)} "
            "(spark.metastore_url, spark.jars; docs/spark.md)"
        ) from exc


def _cause(exc: BaseException) -> str:
    """The innermost Java cause of a Spark failure, in one line."""
    java = getattr(exc, "_origin", None) or getattr(exc, "java_exception", None)
    if java is not None:
        with suppress(Exception):  # a best-effort description of an error already raised
            while java.getCause() is not None:
                java = java.getCause()
            return str(java.toString())[:500]
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:500]


def use_database(session, database: str, *, create: bool) -> None:
    """Make `database` the session's current one; `create`: create it when missing, else a
    missing one is an error."""
    if not _NAME.match(database.lower()):
        raise ConfigError(
            f"Spark 数据库名无效 / invalid Spark database name {database!r} in the warehouse "
            "URL: letters, digits and _ (spark://local/careops)",
            field="warehouse",
        )
    if not session.catalog.databaseExists(database):
        if not create:
            from careops.warehouse.connect import _missing

            raise WarehouseError(_missing(f"spark database {database!r}"), field="warehouse")
        session.sql(f"CREATE DATABASE IF NOT EXISTS `{database}`")
    session.catalog.setCurrentDatabase(database)


def require_tables(session, database: str, names: list[str]) -> None:
    """Raise `WarehouseError` naming the tables of `names` the database lacks: a read on it
    would otherwise answer empty results (a fresh metastore, or another warehouse's)."""
    present = {t.name for t in session.catalog.listTables(database)}
    missing = [n for n in names if n not in present]
    if not missing:
        return
    shown = ", ".join(missing[:6]) + (f" … (+{len(missing) - 6})" if len(missing) > 6 else "")
    where = f"{database} @ {session.conf.get('spark.sql.warehouse.dir')}"
    raise WarehouseError(
        f"Spark 仓库 {where} 缺少表 {shown}; 先运行 careops init, 或检查 spark.warehouse_dir 与"
        f"元数据库设置 / the Spark warehouse {where} lacks the table(s) {shown}: it was never "
        "initialised, or this is not its metastore (spark.warehouse_dir, spark.metastore_url). "
        "Run `careops init` (it also adopts table folders left by an earlier catalog)",
        field="warehouse",
    )


def adopt_table_folders(session, database: str, expected: dict) -> list[str]:
    """Give table folders under the database's location that the catalog does not list (left
    by an earlier in-memory catalog, or a lost metastore) their catalog entry back, as managed
    Parquet tables, and return their names. `expected`: table name → (ibis schema, key
    columns) of the canonical and system tables; such a folder must hold that table (its key
    columns, the same types) or it is refused with `Conflict`. Other folders are adopted with
    the schema their Parquet files carry. A run killed half-way is finished by the next."""
    jvm = session.sparkContext._jvm
    location = session.catalog.getDatabase(database).locationUri
    root = jvm.org.apache.hadoop.fs.Path(location)
    fs = root.getFileSystem(session.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(root):
        return []
    listed = {t.name for t in session.catalog.listTables(database)}
    adopted = []
    for status in sorted(fs.listStatus(root), key=lambda s: s.getPath().getName()):
        name = status.getPath().getName()
        staged = name.startswith(_STAGING)
        table = name.removeprefix(_STAGING)
        if not status.isDirectory() or not _NAME.match(table) or table == METASTORE_DIR:
            continue
        if table in listed and not staged:
            continue
        folder = str(status.getPath().toString())
        if not staged and not _has_files(fs, status.getPath()):
            continue  # an empty folder: Spark creates the table over it
        schema = _schema_for(session, fs, status.getPath(), table, expected.get(table))
        if schema is None:
            log.warning("跳过非表目录 / left alone a folder that is no table: %s", folder)
            continue
        if not staged:
            target = jvm.org.apache.hadoop.fs.Path(root, _STAGING + table)
            if not fs.rename(status.getPath(), target):
                raise Conflict(_refusal(folder, table, "it could not be renamed / 无法改名"))
            status_path = target
        else:
            status_path = status.getPath()
        if table not in listed:
            session.catalog.createTable(f"`{database}`.`{table}`", schema=schema, source="parquet")
        home = jvm.org.apache.hadoop.fs.Path(root, table)
        if fs.exists(home):
            if _has_files(fs, home):
                raise Conflict(_refusal(folder, table, f"{home.toString()} is not empty"))
            fs.delete(home, True)
        if not fs.rename(status_path, home):
            raise Conflict(_refusal(folder, table, "it could not be moved back / 无法移回"))
        session.catalog.refreshTable(f"`{database}`.`{table}`")
        log.warning(
            "已接管表目录 / adopted the table folder %s into the catalog as %s.%s",
            home.toString(),
            database,
            table,
        )
        adopted.append(table)
    return adopted


def _has_files(fs, path) -> bool:
    return bool(fs.listFiles(path, True).hasNext())


def _has_data(fs, path) -> bool:
    """Whether the folder holds a data file (not only markers such as `_SUCCESS`)."""
    files = fs.listFiles(path, True)
    while files.hasNext():
        if not files.next().getPath().getName().startswith(("_", ".")):
            return True
    return False


def _schema_for(session, fs, path, table: str, expected):
    """The Spark schema to register the folder's table with: None for a folder of another
    name without Parquet data (not a table: left alone); `Conflict` if it does not hold the
    `expected` (ibis schema, key columns) table."""
    from ibis.backends.pyspark.datatypes import PySparkSchema

    folder = str(path.toString())
    found = None
    if _has_data(fs, path):
        try:
            found = session.read.parquet(folder).schema
        except Exception as exc:
            if expected is None:
                return None  # not a table's folder: none of ours
            raise Conflict(_refusal(folder, table, f"not Parquet: {_cause(exc)}")) from None
    if expected is None:
        return found
    schema, keys = expected
    want = PySparkSchema.from_ibis(schema)
    if found is None:
        return want  # only markers: the table was empty
    have = {f.name: f.dataType for f in found.fields}
    problems = [
        f"{f.name}: {have[f.name].simpleString()} ≠ {f.dataType.simpleString()}"
        for f in want.fields
        if f.name in have and have[f.name] != f.dataType
    ]
    problems += [f"no column {k}" for k in keys if k not in have]
    if problems:
        raise Conflict(_refusal(folder, table, "; ".join(problems)))
    return want


def _refusal(folder: str, table: str, why: str) -> str:
    return (
        f"表目录 {folder} 已存在, 但不能接管为表 {table} ({why}); 移走或删除该目录后重新运行 "
        f"careops init / the table folder {folder} exists but cannot be adopted as table "
        f"{table} ({why}): move it away (or delete it) and run `careops init` again"
    )
