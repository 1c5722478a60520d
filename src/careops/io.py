"""Write Arrow tables to the file formats people ask for (by suffix)."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from careops.errors import ConfigError


def write_table(table: pa.Table, path: Path) -> None:
    """Write `table` as CSV (UTF-8 with BOM, opens in Excel) or Parquet, by `path`'s suffix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = path.suffix.lower()
    if suffix == ".parquet":
        pq.write_table(table, path)
    elif suffix == ".csv":
        with path.open("wb") as fh:
            fh.write(b"\xef\xbb\xbf")
            pacsv.write_csv(table, fh)
    else:
        raise ConfigError(f"{path}: write .csv or .parquet")
