"""Vectorised builders of Arrow columns: string ids, UTC timestamps, dates, vocab lookups."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from careops.schema import TABLES

TS = pa.timestamp("us", tz="UTC")
US_PER_DAY = 86_400_000_000
_EPOCH = dt.date(1970, 1, 1)


def ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    """Strings prefix + zero-padded number, e.g. ids("U", [7], 8) → "U00000007"."""
    s = pc.utf8_lpad(pa.array(np.asarray(numbers, dtype=np.int64)).cast(pa.string()), width, "0")
    return pc.binary_join_element_wise(pa.scalar(prefix), s, "")


def chunk_ids(prefix: str, chunk: int, n: int) -> pa.Array:
    """Unique ids of n rows of a chunk: prefix + 4-digit chunk + 9-digit row number."""
    return ids(f"{prefix}{chunk:04d}", np.arange(n), 9)


def user_ids(offset: int, idx: np.ndarray) -> pa.Array:
    """Global user ids of chunk indices."""
    return ids("U", offset + np.asarray(idx, dtype=np.int64), 8)


def day_number(d: dt.date) -> int:
    """Days since 1970-01-01."""
    return (d - _EPOCH).days


def timestamps(start: dt.date, tz_hours: int, day: np.ndarray, sod: np.ndarray) -> np.ndarray:
    """UTC microseconds of local day `day` (of the window) at second-of-day `sod`."""
    sod = np.clip(np.asarray(sod, dtype=np.float64), 0, 86_399.999)
    base = (day_number(start) + np.asarray(day, dtype=np.int64)) * US_PER_DAY
    return base + (sod * 1e6).astype(np.int64) - tz_hours * 3_600_000_000


def ts_array(us: np.ndarray, mask: np.ndarray | None = None) -> pa.Array:
    """Arrow UTC timestamps from microseconds (mask True = null)."""
    return pa.array(np.asarray(us, dtype=np.int64), type=pa.int64(), mask=mask).cast(TS)


def date_array(days_since_epoch: np.ndarray) -> pa.Array:
    """Arrow date32 from days since 1970-01-01."""
    return pa.array(np.asarray(days_since_epoch, dtype=np.int32), type=pa.int32()).cast(pa.date32())


def take(vocab: list[str | None] | tuple, idx: np.ndarray) -> pa.Array:
    """Strings vocab[idx] as an Arrow string column."""
    return pa.array(list(vocab), type=pa.string()).take(pa.array(np.asarray(idx, dtype=np.int64)))


def table(name: str, cols: dict[str, pa.Array | np.ndarray | list]) -> pa.Table:
    """A canonical table from columns; missing columns become nulls, order and types enforced."""
    schema = TABLES[name].arrow_schema()
    n = next(len(v) for v in cols.values())
    arrays = []
    for f in schema:
        v = cols.get(f.name)
        if v is None:
            arrays.append(pa.nulls(n, f.type))
        elif isinstance(v, pa.Array | pa.ChunkedArray):
            arrays.append(v.cast(f.type) if v.type != f.type else v)
        else:
            arrays.append(pa.array(v, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)
