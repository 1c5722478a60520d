"""Check a simulation folder against the canonical contract of `careops.schema`, table by table:
exact Arrow schema, enum values, required non-nulls, min/max, unique keys, timestamps not after
the simulation end, canonical observation units. Returns problems; an empty list means clean."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from careops.schema import OBSERVATION_UNITS, TABLES


def check_table(name: str, t: pa.Table, end: dt.datetime, end_date: dt.date) -> list[str]:
    """Problems of one table against its canonical definition; timestamps must be before
    `end` (UTC), dates before `end_date` (the first local day after the window)."""
    spec = TABLES[name]
    problems: list[str] = []
    expected = spec.arrow_schema()
    if name == "patients":  # the synthetic contact columns (careops.sim.contacts) come after
        from careops.sim.contacts import COLUMNS

        names = set(t.column_names)
        if set(expected.names) <= names and names - set(expected.names) <= set(COLUMNS):
            t = t.select(expected.names)
    if not t.schema.equals(expected):
        return [f"{name}: schema {t.schema} differs from {expected}"]
    for c in spec.columns:
        col = t.column(c.name)
        if c.required and col.null_count:
            problems.append(f"{name}.{c.name}: {col.null_count} nulls in a required column")
        if c.enum is not None:
            bad = pc.filter(col, pc.invert(pc.is_in(col, pa.array(c.enum)))).drop_null()
            if len(bad):
                problems.append(
                    f"{name}.{c.name}: values outside {c.enum}: {sorted(set(bad.to_pylist()))[:5]}"
                )
        if (
            c.min is not None
            and len(col)
            and pc.min(col).as_py() is not None
            and pc.min(col).as_py() < c.min
        ):
            problems.append(f"{name}.{c.name}: below min {c.min}")
        if (
            c.max is not None
            and len(col)
            and pc.max(col).as_py() is not None
            and pc.max(col).as_py() > c.max
        ):
            problems.append(f"{name}.{c.name}: above max {c.max}")
        if c.not_future and len(col) and col.null_count < len(col):
            latest = pc.max(col).as_py()
            limit = end if c.type == "timestamp" else end_date
            if latest >= limit:
                problems.append(f"{name}.{c.name}: {latest} is not before the end {limit}")
    if len(spec.key) == 1 and t.num_rows:
        key = t.column(spec.key[0])
        if pc.count_distinct(key).as_py() != t.num_rows:
            problems.append(f"{name}.{spec.key[0]}: ids are not unique")
    if name == "observations" and t.num_rows:
        for code, (unit, _, _) in OBSERVATION_UNITS.items():
            m = pc.equal(t.column("code"), code)
            units = set(pc.filter(t.column("unit"), m).to_pylist())
            if units - {unit}:
                problems.append(f"observations {code}: units {units}, canonical is {unit}")
    return problems


def check_folder(out: Path | str, end: dt.datetime, end_date: dt.date) -> list[str]:
    """Problems of every canonical table in a simulation folder (missing tables included)."""
    out = Path(out)
    problems: list[str] = []
    for name in TABLES:
        path = out / f"{name}.parquet"
        if not path.exists():
            problems.append(f"{name}: missing {path}")
            continue
        problems += check_table(name, pq.read_table(path), end, end_date)
    return problems
