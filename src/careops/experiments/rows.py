"""Reading and validating per-user rows (one row per user: variant, metric, optional covariate).

Every problem is a `CareOpsError` naming the column, the row or value, and what to do. Files are
checked in Arrow; tables already in a backend are checked there, in one query.
"""

from __future__ import annotations

from pathlib import Path

import ibis
import pyarrow as pa
import pyarrow.compute as pc

from careops.errors import InputError
from careops.experiments.stats.settings import MetricKind

NUMBER_PATTERN = r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$"


def read_users(path: str | Path) -> pa.Table:
    """Read a per-user CSV or Parquet file into Arrow."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"文件不存在 / file {p} does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix in {".parquet", ".pq"}:
            import pyarrow.parquet as pq

            return pq.read_table(p)
        if suffix in {".csv", ".txt", ".tsv"}:
            from pyarrow import csv

            parse = csv.ParseOptions(delimiter="\t" if suffix == ".tsv" else ",")
            return csv.read_csv(p, parse_options=parse)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"无法读取 {p} / cannot read {p}: {exc}") from exc
    raise InputError(
        f"{p}: 未知的文件类型 {suffix!r}, 请用 .csv 或 .parquet / unknown file kind {suffix!r}; "
        "give a .csv or .parquet file"
    )


def first_row_number(path: str | Path) -> int:
    """How errors number the file's first row: 2 for a text file (its line numbers, the header
    being line 1, as ingestion does), 1 for Parquet."""
    return 1 if Path(path).suffix.lower() in {".parquet", ".pq"} else 2


def _require_column(table: pa.Table, column: str, role: str) -> None:
    if column not in table.column_names:
        msg = (
            f"{role} column {column!r} is not in the data; columns are: "
            f"{', '.join(table.column_names)}"
        )
        raise InputError(msg)


def _numeric_column(table: pa.Table, column: str, role: str, first: int) -> pa.ChunkedArray:
    """The column as float64, or a clear error naming the first bad or missing value."""
    values = table.column(column)
    if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
        text = pc.utf8_trim_whitespace(values)
        text = pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)
        numeric = pc.match_substring_regex(text, NUMBER_PATTERN)
        bad_rows = pc.indices_nonzero(pc.invert(pc.fill_null(numeric, True))).to_pylist()
        if bad_rows:
            row = bad_rows[0]
            msg = (
                f"{role} column {column!r} has text {values[row].as_py()!r} at row {row + first}"
                f" ({len(bad_rows)} such row(s)); it must hold numbers only"
            )
            raise InputError(msg)
        values = text
    elif not (
        pa.types.is_integer(values.type)
        or pa.types.is_floating(values.type)
        or pa.types.is_boolean(values.type)
        or pa.types.is_null(values.type)
    ):
        msg = f"{role} column {column!r} has type {values.type}; it must hold numbers"
        raise InputError(msg)
    values = pc.cast(values, pa.float64())
    missing = pc.or_(pc.is_null(values), pc.is_nan(pc.fill_null(values, 0.0)))
    missing_rows = pc.indices_nonzero(missing).to_pylist()
    if missing_rows:
        msg = (
            f"{role} column {column!r} has {len(missing_rows)} missing value(s), first at row"
            f" {missing_rows[0] + first}; fill them (e.g. 0 for no purchase) or drop those users"
        )
        raise InputError(msg)
    return values


def validate_users(
    table: pa.Table,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None = None,
    first_row: int = 1,
) -> pa.Table:
    """Check the per-user rows; return them clean, under the same column names: the variant as
    text, the metric (and covariate) as float64. Errors number the first row `first_row`."""
    for column, role in (
        (variant_col, "variant"),
        (metric_col, "metric"),
        (covariate_col, "covariate"),
    ):
        if column is not None:
            _require_column(table, column, role)
    if table.num_rows == 0:
        raise InputError(
            "数据没有行, 需要每个用户一行 / the data has no rows; it needs one row per user"
        )
    variants = pc.cast(table.column(variant_col), pa.string())
    empty = pc.indices_nonzero(
        pc.fill_null(pc.equal(pc.utf8_trim_whitespace(variants), ""), True)
    ).to_pylist()
    if empty:
        msg = (
            f"variant column {variant_col!r} is empty in {len(empty)} row(s), first at row"
            f" {empty[0] + first_row}; every user needs a variant"
        )
        raise InputError(msg)
    if len({variant_col, metric_col, covariate_col} - {None}) < (3 if covariate_col else 2):
        raise InputError(
            "组别列、指标列和协变量列必须是不同的列 / the variant, metric and covariate columns "
            "must be different columns"
        )
    columns = {
        variant_col: variants,
        metric_col: _numeric_column(table, metric_col, "metric", first_row),
    }
    if covariate_col is not None:
        columns[covariate_col] = _numeric_column(table, covariate_col, "covariate", first_row)
    return pa.table(columns)


def check_ibis_rows(
    table: ibis.Table, variant_col: str, metric_col: str, covariate_col: str | None = None
) -> MetricKind:
    """Validate per-user rows held in a backend (columns, numeric types, no missing values) in
    one query, and infer the metric kind (all 0/1 → proportion)."""
    schema = table.schema()
    for column, role in (
        (variant_col, "variant"),
        (metric_col, "metric"),
        (covariate_col, "covariate"),
    ):
        if column is None:
            continue
        if column not in schema:
            msg = f"{role} column {column!r} is not in the table; columns are: {', '.join(schema)}"
            raise InputError(msg)
        if role != "variant" and not (schema[column].is_numeric() or schema[column].is_boolean()):
            msg = f"{role} column {column!r} has type {schema[column]}; it must hold numbers"
            raise InputError(msg)
    y = table[metric_col].cast("float64")
    checks = {
        "rows": table.count(),
        "no_variant": table[variant_col].isnull().sum(),
        "no_metric": y.isnull().sum(),
        "not_binary": (~y.isin([0.0, 1.0])).sum(),
    }
    if covariate_col is not None:
        checks["no_covariate"] = table[covariate_col].isnull().sum()
    found = table.aggregate(**checks).to_pyarrow().to_pylist()[0]
    if not found["rows"]:
        raise InputError(
            "表没有行, 需要每个用户一行 / the table has no rows; it needs one row per user"
        )
    for key, column, role in (
        ("no_variant", variant_col, "variant"),
        ("no_metric", metric_col, "metric"),
        ("no_covariate", covariate_col, "covariate"),
    ):
        if found.get(key):
            msg = (
                f"{role} column {column!r} has {found[key]} missing value(s); fill them"
                " (e.g. 0 for no purchase) or drop those users"
            )
            raise InputError(msg)
    return "proportion" if found["not_binary"] == 0 else "mean"


def infer_kind(values: pa.ChunkedArray | pa.Array) -> MetricKind:
    """`proportion` when every value is 0 or 1, `mean` otherwise."""
    is_binary = pc.all(pc.is_in(values, value_set=pa.array([0.0, 1.0]))).as_py()
    return "proportion" if is_binary else "mean"
