"""Evaluate a segment rule as of a date: count, sample, export its members."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from pathlib import Path

import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.io import write_table
from careops.segments.compile import build, check
from careops.segments.errors import RuleError
from careops.segments.rules import Node, parse_rule
from careops.tags.compute import PATIENT_COLUMNS, require_patients
from careops.tags.context import TagContext, check_as_of
from careops.tags.labels import with_labels
from careops.tags.snapshot import tags_at


def members(
    con: BaseBackend,
    rule: str | dict | Node,
    as_of: date,
    *,
    columns: Iterable[str] = (),
    settings: Settings | None = None,
) -> ir.Table:
    """The patients matching a rule as of a date: `user_id`, the tags it reads, `columns`."""
    settings = settings or get_settings()
    node, names = check(parse_rule(rule))
    wanted = list(dict.fromkeys([*names, *columns]))
    ctx = TagContext(con, check_as_of(as_of), settings)
    if wanted:
        t = tags_at(con, as_of, wanted, settings=settings)
    else:  # event conditions only: the patients table is enough
        t = ctx.facts("patients", "registered_at").select(PATIENT_COLUMNS[0])
    return t.filter(build(node, t, ctx))


def count(
    con: BaseBackend, rule: str | dict | Node, as_of: date, *, settings: Settings | None = None
) -> int:
    """How many patients match the rule as of the date (0 is a normal answer)."""
    require_patients(con, as_of, settings)
    return int(members(con, rule, as_of, settings=settings).count().execute())


def sample(
    con: BaseBackend,
    rule: str | dict | Node,
    as_of: date,
    n: int = 10,
    *,
    columns: Iterable[str] = (),
    settings: Settings | None = None,
) -> list[dict]:
    """Up to `n` matching patients (the first by user_id, so the answer is reproducible)."""
    if n < 1:
        raise RuleError(
            f"条数上限至少为 1, 实际 {n} / limit must be at least 1, got {n}", field="limit"
        )
    require_patients(con, as_of, settings)
    t = members(con, rule, as_of, columns=columns, settings=settings)
    return t.order_by("user_id").limit(n).to_pyarrow().to_pylist()


def export(
    con: BaseBackend,
    rule: str | dict | Node,
    as_of: date,
    path: str | Path,
    *,
    columns: Iterable[str] = (),
    settings: Settings | None = None,
) -> int:
    """Write the matching patients to CSV or Parquet (by the file suffix); return the count.

    CSV is for people: UTF-8 with a BOM (Excel) and a label column beside each coded tag."""
    path = Path(path)
    if path.suffix.lower() not in (".csv", ".parquet"):
        raise RuleError(
            f"导出到 {path.name!r}: 文件名应以 .csv 或 .parquet 结尾 / export to {path.name!r}: "
            "use a .csv or .parquet file name"
        )
    require_patients(con, as_of, settings)
    data: pa.Table = (
        members(con, rule, as_of, columns=columns, settings=settings)
        .order_by("user_id")
        .to_pyarrow()
    )
    if path.suffix.lower() == ".csv":
        data = with_labels(data, (settings or get_settings()).lang)
    write_table(data, path)
    return data.num_rows
