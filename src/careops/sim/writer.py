"""Streaming Parquet output: one file per table, one row group per chunk, bounded memory.

Files are written deterministically (fixed compression, no timestamps in metadata), so the same
seed and version give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from careops.schema import TABLES

GROUND_TRUTH = "ground_truth"


def table_paths(out: Path | str) -> list[Path]:
    """The canonical table files of a simulation folder (what `careops ingest` should load;
    `ground_truth/` and `calibration.json` are not data for the warehouse)."""
    out = Path(out)
    return [out / f"{name}.parquet" for name in TABLES if (out / f"{name}.parquet").exists()]


class TableWriter:
    """Appends Arrow tables to DIR/<name>.parquet (or DIR/ground_truth/<name>.parquet)."""

    def __init__(self, out: Path) -> None:
        self.out = out
        self._writers: dict[str, pq.ParquetWriter] = {}
        self.rows: dict[str, int] = {}

    def path(self, name: str) -> Path:
        return self.out / f"{name}.parquet"

    def write(self, name: str, table: pa.Table) -> None:
        if name in TABLES:  # canonical columns typed; extra ones (contacts.*) kept after them
            schema = TABLES[name].arrow_schema()
            extra = [c for c in table.column_names if c not in schema.names]
            typed = table.select(schema.names).cast(schema)
            for c in extra:
                typed = typed.append_column(c, table[c])
            table = typed
        w = self._writers.get(name)
        if w is None:
            path = self.path(name)
            path.parent.mkdir(parents=True, exist_ok=True)
            w = pq.ParquetWriter(
                path, table.schema, compression="zstd", compression_level=3, write_statistics=True
            )
            self._writers[name] = w
        w.write_table(table, row_group_size=1_000_000)
        self.rows[name] = self.rows.get(name, 0) + table.num_rows

    def close(self) -> None:
        for w in self._writers.values():
            w.close()
        self._writers.clear()
