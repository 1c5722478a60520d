"""Spark warehouses: settings, the catalog, reads without tables, adopting table folders.

The tests marked `spark` run in the session-wide Spark session (tests/conftest.py), whose
catalog is a Hive metastore (embedded Derby) as in production; `test_spark_cli.py` runs the
CLI as separate processes.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from urllib.parse import unquote, urlparse

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pydantic import ValidationError

from careops.config import Settings, SparkSettings, get_settings
from careops.errors import ConfigError, Conflict, WarehouseError
from careops.warehouse import connect, create_tables
from careops.warehouse.spark import (
    adopt_table_folders,
    jdo_classes,
    local_dir,
    metastore_schema_conf,
    require_tables,
    spark_config,
    use_database,
    warehouse_uri,
)
from tests.conftest import fill

# ---- settings (no JVM) ----------------------------------------------------------------------


def test_warehouse_location_is_a_uri(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert warehouse_uri("data/wh") == (tmp_path / "data/wh").resolve().as_uri()
    assert warehouse_uri(str(tmp_path / "wh")) == (tmp_path / "wh").as_uri()
    for uri in ("hdfs://nn:8020/careops/wh", "s3a://bucket/wh", "file:///srv/wh", "gs://b/w"):
        assert warehouse_uri(uri) == uri
        assert warehouse_uri(uri + "/") == uri
    assert local_dir("hdfs://nn:8020/careops/wh") is None
    assert local_dir("s3a://bucket/wh") is None
    assert local_dir("file:///srv/my%20wh") == Path("/srv/my wh")
    assert local_dir("data/wh") == (tmp_path / "data/wh").resolve()


def test_spark_config_carries_cluster_settings_and_passes_conf_through():
    settings = SparkSettings(
        warehouse_dir="hdfs://nn:8020/careops/wh",
        driver_host="10.0.0.5",
        driver_bind_address="0.0.0.0",
        driver_port=40000,
        block_manager_port=40001,
        executor_memory="8g",
        executor_cores=4,
        cores_max=16,
        driver_memory=None,
        jars=("/opt/jars/postgresql.jar",),
        conf={"spark.sql.shuffle.partitions": "64", "spark.ui.enabled": "true"},
    )
    conf = spark_config("spark://master:7077", settings)
    assert conf["spark.master"] == "spark://master:7077"
    assert conf["spark.sql.warehouse.dir"] == "hdfs://nn:8020/careops/wh"  # not abspath'd
    assert conf["spark.driver.host"] == "10.0.0.5"
    assert conf["spark.driver.bindAddress"] == "0.0.0.0"
    assert conf["spark.driver.port"] == "40000"
    assert conf["spark.blockManager.port"] == "40001"
    assert conf["spark.executor.memory"] == "8g"
    assert conf["spark.executor.cores"] == "4"
    assert conf["spark.cores.max"] == "16"
    assert conf["spark.jars"] == "/opt/jars/postgresql.jar"
    assert conf["spark.driver.extraClassPath"] == "/opt/jars/postgresql.jar"
    assert conf["spark.sql.catalogImplementation"] == "hive"
    assert conf["spark.sql.session.timeZone"] == "UTC"
    # passed-through settings win; unset ones leave spark-defaults.conf in force
    assert conf["spark.sql.shuffle.partitions"] == "64"
    assert conf["spark.ui.enabled"] == "true"
    assert "spark.driver.memory" not in conf
    assert not any("extraJavaOptions" in k for k in conf)


def test_default_spark_config_sets_no_java_options_and_no_network():
    conf = spark_config("local[2]", SparkSettings())
    assert not any("extraJavaOptions" in k for k in conf)
    assert not any(k.startswith(("spark.driver.host", "spark.driver.bind")) for k in conf)
    assert conf["spark.driver.memory"] == "4g"


def test_metastore_schema_is_created_all_at_once():
    """The classes of the jar's package.jdo are listed for DataNucleus to create at start-up."""
    jdo = (
        '<jdo><package name="org.apache.hadoop.hive.metastore.model">'
        '<class name="MDatabase" identity-type="datastore"><field name="name"/></class>'
        '<class name="MTable"  table="TBLS"/></package>'
        '<package name="other.model"><class name="MThing"/></package></jdo>'
    )
    classes = jdo_classes(jdo)
    assert classes == [
        "org.apache.hadoop.hive.metastore.model.MDatabase",
        "org.apache.hadoop.hive.metastore.model.MTable",
        "other.model.MThing",
    ]
    conf = metastore_schema_conf(classes)
    assert conf["datanucleus.autoStartMechanism"] == "Classes"
    assert conf["datanucleus.autoStartClassNames"].split(",") == classes
    assert conf["datanucleus.schema.autoCreateAll"] == "true"
    with pytest.raises(ConfigError, match="schematool"):
        metastore_schema_conf([])


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("metastore_url", "postgresql://h:5432/metastore", "JDBC"),
        ("metastore_uris", "http://h:9083", "thrift://"),
        ("conf", {"shuffle.partitions": "4"}, "spark."),
        ("executor_memory", "lots", "pattern"),
        ("driver_port", 70000, "65535"),
        ("warehouse_dir", "/data/wh;create=true", ";"),
        ("catalog", "delta", "hive"),
    ],
)
def test_bad_spark_settings_are_refused(field, value, says):
    with pytest.raises(ValidationError) as info:
        SparkSettings(**{field: value})
    assert field in str(info.value)
    assert says in str(info.value)


def test_spark_settings_from_the_environment(monkeypatch):
    monkeypatch.setenv("CAREOPS_SPARK__CONF", '{"spark.executor.instances": "2"}')
    monkeypatch.setenv("CAREOPS_SPARK__METASTORE_URL", "jdbc:postgresql://db:5432/metastore")
    monkeypatch.setenv("CAREOPS_SPARK__METASTORE_PASSWORD", "s3cret")
    monkeypatch.setenv("CAREOPS_SPARK__WAREHOUSE_DIR", "s3a://bucket/careops")
    spark = Settings().spark
    assert spark.conf == {"spark.executor.instances": "2"}
    assert spark.metastore_url == "jdbc:postgresql://db:5432/metastore"
    assert "s3cret" not in repr(spark)
    # the password is never part of the start-up configuration (a command line)
    assert "s3cret" not in str(spark_config("local[2]", spark))


def test_state_store_of_a_spark_warehouse(monkeypatch, tmp_path):
    from careops.errors import ConfigError
    from careops.service import state_url_for

    monkeypatch.delenv("CAREOPS_STATE")
    monkeypatch.setenv("CAREOPS_SPARK__WAREHOUSE_DIR", (tmp_path / "wh").as_uri())
    get_settings.cache_clear()
    assert state_url_for("spark://local") == f"sqlite:///{tmp_path / 'wh' / 'state.db'}"
    monkeypatch.setenv("CAREOPS_SPARK__WAREHOUSE_DIR", "hdfs://nn:8020/careops")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="CAREOPS_STATE"):
        state_url_for("spark://local")
    monkeypatch.setenv("CAREOPS_STATE", "postgresql://u@db:5432/careops")
    get_settings.cache_clear()
    assert state_url_for("spark://local") == "postgresql://u@db:5432/careops"


# ---- the catalog (the session-wide Spark session) --------------------------------------------

T0 = dt.datetime(2025, 3, 1, 8, 30, tzinfo=dt.UTC)


@pytest.fixture
def spark_db(spark_session):
    """Factory: a new empty Spark database → (name, its local folder); dropped afterwards."""
    names = []

    def make() -> tuple[str, Path]:
        name = f"careops_t_{uuid.uuid4().hex[:12]}"
        use_database(spark_session, name, create=True)
        names.append(name)
        uri = spark_session.catalog.getDatabase(name).locationUri
        return name, Path(unquote(urlparse(uri).path))

    yield make
    spark_session.catalog.setCurrentDatabase("default")
    for name in names:
        spark_session.sql(f"DROP DATABASE IF EXISTS {name} CASCADE")


def _patients() -> pa.Table:
    return pa.table(
        {
            "user_id": ["u1", "u2", "u3"],
            "registered_at": [T0] * 3,
            "sex": ["F", "M", "U"],
            "city": ["上海", "北京", "广州"],
        }
    )


def _expected():
    from careops.warehouse.connect import _spark_tables

    return _spark_tables()


@pytest.mark.spark
def test_reads_need_the_canonical_tables(spark_session, spark_db):
    name, _ = spark_db()
    with pytest.raises(WarehouseError, match="careops init") as info:
        require_tables(spark_session, name, list(_expected()))
    assert "patients" in str(info.value)
    # through the one door: a read-only open of a database without tables, or of none at all
    with pytest.raises(WarehouseError, match="lacks the table"):
        connect(f"spark://local/{name}", read_only=True)
    missing = f"careops_t_{uuid.uuid4().hex[:12]}"
    with pytest.raises(WarehouseError, match="does not exist"):
        connect(f"spark://local/{missing}", read_only=True)
    assert not spark_session.catalog.databaseExists(missing)
    con = connect(f"spark://local/{name}")  # a write creates it; init makes the tables
    create_tables(con)
    ro = connect(f"spark://local/{name}", read_only=True)
    assert ro.table("patients").count().execute() == 0


@pytest.mark.spark
@pytest.mark.parametrize("name", ["a-b", "x; DROP DATABASE default", "`x`", "é"])
def test_database_names_are_checked(spark_session, name):
    from careops.errors import ConfigError

    with pytest.raises(ConfigError, match="invalid Spark database name"):
        use_database(spark_session, name, create=True)


@pytest.mark.spark
def test_adopts_table_folders_a_lost_catalog_left(spark_session, spark_db):
    source, source_dir = spark_db()
    con = connect(f"spark://local/{source}")
    create_tables(con)
    fill(con, {"patients": _patients()})
    con.create_table("tag_snapshot_20250301", obj=con.table("patients").select("user_id"))
    # another warehouse whose catalog lost its tables: only the folders are left
    target, target_dir = spark_db()
    for table in ("patients", "tag_snapshot_20250301", "events"):
        shutil.copytree(source_dir / table, target_dir / table)

    adopted = adopt_table_folders(spark_session, target, _expected())
    assert adopted == ["patients", "tag_snapshot_20250301"]  # events' folder was empty
    assert sorted(spark_session.table(f"{target}.patients").toPandas().user_id) == [
        "u1",
        "u2",
        "u3",
    ]
    assert spark_session.table(f"{target}.tag_snapshot_20250301").count() == 3
    table = spark_session.catalog.getTable(f"{target}.patients")
    assert table.tableType == "MANAGED"
    assert not [p for p in target_dir.iterdir() if p.name.startswith(".adopting-")]
    # the rest is created around them; a second run finds nothing to adopt
    con = connect(f"spark://local/{target}")
    create_tables(con)
    require_tables(spark_session, target, list(_expected()))
    assert adopt_table_folders(spark_session, target, _expected()) == []
    fill(con, {"patients": _patients().slice(0, 1)})  # managed, writable: loads go on
    assert con.table("patients").count().execute() == 4


@pytest.mark.spark
def test_finishes_an_adoption_killed_half_way(spark_session, spark_db):
    name, folder = spark_db()
    staged = folder / ".adopting-patients"
    staged.mkdir(parents=True)
    pq.write_table(
        _patients().cast(_canonical_arrow("patients", _patients().column_names)),
        staged / "part-0.parquet",
    )
    assert adopt_table_folders(spark_session, name, _expected()) == ["patients"]
    assert spark_session.table(f"{name}.patients").count() == 3
    assert not staged.exists()


def _canonical_arrow(table: str, names: list[str]) -> pa.Schema:
    from careops.schema import TABLES

    schema = TABLES[table].arrow_schema()
    return pa.schema([schema.field(n) for n in names])


@pytest.mark.spark
def test_refuses_folders_that_are_not_the_table(spark_session, spark_db):
    name, folder = spark_db()
    # a patients folder whose user_id is a number: another table, not ours
    (folder / "patients").mkdir(parents=True)
    pq.write_table(pa.table({"user_id": [1, 2]}), folder / "patients" / "part-0.parquet")
    with pytest.raises(Conflict) as info:
        adopt_table_folders(spark_session, name, _expected())
    text = str(info.value)
    assert "patients" in text and "user_id" in text and "move it away" in text
    assert (folder / "patients" / "part-0.parquet").exists()  # left where it was
    assert "patients" not in {t.name for t in spark_session.catalog.listTables(name)}
    shutil.rmtree(folder / "patients")
    # files that are not Parquet at all
    (folder / "orders").mkdir()
    (folder / "orders" / "export.csv").write_text("order_id\no1\n", encoding="utf-8")
    with pytest.raises(Conflict, match="not Parquet"):
        adopt_table_folders(spark_session, name, _expected())
    shutil.rmtree(folder / "orders")
    # a folder without the key column
    (folder / "events").mkdir()
    pq.write_table(pa.table({"name": ["app_open"]}), folder / "events" / "part-0.parquet")
    with pytest.raises(Conflict, match="no column event_id"):
        adopt_table_folders(spark_session, name, _expected())
    shutil.rmtree(folder / "events")
    # a folder of another name without Parquet files is none of ours: left alone
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("kept by the operator", encoding="utf-8")
    assert adopt_table_folders(spark_session, name, _expected()) == []
    assert (folder / "notes" / "readme.txt").exists()


@pytest.mark.spark
def test_a_spark_session_leaves_pyarrow_time_zones_alone(spark_session):
    """Starting Spark once set PYARROW_IGNORE_TIMEZONE=1 for the whole process: from then on
    pyarrow read every aware datetime as UTC wall time (09:00+08 became 09:00Z), which broke the
    journey policy's caps in any process that had run Spark before."""
    import datetime as dt

    import pyarrow as pa

    nine = dt.datetime(2026, 3, 2, 9, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert pa.array([nine], pa.timestamp("us", tz="UTC"))[0].as_py() == nine
