"""The analytical warehouse: one Ibis connection on DuckDB, PostgreSQL or Spark.

Only this package talks to an engine directly; everything else builds Ibis expressions.
"""

from careops.warehouse.connect import Backend, backend_kind, close, connect, scratch, warehouse
from careops.warehouse.tables import SYSTEM_TABLES, create_tables

__all__ = [
    "SYSTEM_TABLES",
    "Backend",
    "backend_kind",
    "close",
    "connect",
    "create_tables",
    "scratch",
    "warehouse",
]
