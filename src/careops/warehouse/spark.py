"""The local Spark session behind `spark://` warehouses."""

from __future__ import annotations

import os

from careops.config import SparkSettings


def spark_session(master: str, settings: SparkSettings):
    """Get or create the process' Spark session with CareOps' settings (UTC, UI off)."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ.setdefault("PYARROW_IGNORE_TIMEZONE", "1")
    from pyspark.sql import SparkSession

    builder = (
        SparkSession.builder.master(master)
        .appName("careops")
        .config("spark.ui.enabled", "false")
        .config("spark.sql.shuffle.partitions", str(settings.shuffle_partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.warehouse.dir", os.path.abspath(settings.warehouse_dir))
        .config("spark.driver.memory", settings.driver_memory)
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", "-Dderby.system.home=/tmp/careops-derby")
    )
    session = builder.getOrCreate()
    session.sparkContext.setLogLevel("ERROR")
    return session
