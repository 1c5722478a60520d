"""A transaction log from a file (CSV/TSV or Parquet), read and checked for the CLV models.

`read_log` returns one row per purchase: customer id (text), the purchase's calendar day (days
since 1970-01-01, as written in the file: a timestamp's date part, no time-zone shift) and, when
asked, its amount. Bad input is refused as a whole with the column, the data row (1 = the first
row after the header) and the reason: unknown columns, an empty log, empty ids, dates that do not
parse or lie in the future, amounts that are not numbers or are negative.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from careops.errors import InvalidInput, NotFound

EPOCH = date(1970, 1, 1)
#: more than this is not an amount of money in any currency we will meet
MAX_AMOUNT = 1e12
#: how many offending rows an error message lists
SHOWN = 5
_NUMBER = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?\s*$"
_ISO_DAY = r"^\s*\d{4}-\d{2}-\d{2}([T ].*)?\s*$"


class LogError(InvalidInput):
    """A transaction log the CLV models cannot use, with the column, rows and reason."""


@dataclass(frozen=True)
class TransactionLog:
    """Purchases: `customer` (str), `day` (int days since 1970-01-01), `amount` (float or None)."""

    customer: np.ndarray
    day: np.ndarray
    amount: np.ndarray | None
    source: str = ""

    def __len__(self) -> int:
        return len(self.day)

    @property
    def first_day(self) -> date:
        return day_date(int(self.day.min()))

    @property
    def last_day(self) -> date:
        return day_date(int(self.day.max()))


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_date(n: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + n)


def _rows(mask: pa.Array | np.ndarray) -> str:
    """'rows 3, 7 (2 rows)' for the True positions of a mask (1-based data rows)."""
    idx = np.flatnonzero(np.asarray(mask, dtype=bool)) + 1
    shown = ", ".join(map(str, idx[:SHOWN]))
    more = f", … ({len(idx)} 行 / rows)" if len(idx) > SHOWN else ""
    return f"第 {shown}{more} 行 / row {shown}{more}"


def _sample(values: pa.Array, mask) -> str:
    bad = pc.filter(values, pa.array(np.asarray(mask, dtype=bool))).slice(0, 1).to_pylist()
    text = repr(bad[0])[:60] if bad else "?"
    return text


def _read_table(path: Path, columns: list[str]) -> pa.Table:
    """The named columns of a CSV/TSV or Parquet file, CSV values as text."""
    if not path.is_file():
        raise NotFound(f"找不到交易文件 / transactions file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            names = pq.read_schema(path).names
            _check_columns(names, columns, path)
            return pq.read_table(path, columns=list(dict.fromkeys(columns)))
        delimiter = "\t" if suffix in (".tsv", ".tab") else ","
        with path.open(encoding="utf-8-sig", newline="") as fh:
            header = next(csv.reader(fh, delimiter=delimiter), None)
        if not header:
            raise LogError(f"交易文件为空 / the transactions file is empty: {path.name}")
        names = [h.strip() for h in header]
        _check_columns(names, columns, path)
        wanted = list(dict.fromkeys(columns))
        twice = [c for c in wanted if names.count(c) > 1]
        if twice:
            raise LogError(
                f"列名重复 / column {twice[0]!r} appears {names.count(twice[0])} times in the "
                f"header of {path.name}; which one is meant is not clear"
            )
        raw = {n: h for n, h in zip(names, header, strict=True)}  # header text as written
        table = pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding="utf8", block_size=1 << 22),
            parse_options=pacsv.ParseOptions(delimiter=delimiter),
            convert_options=pacsv.ConvertOptions(
                include_columns=[raw[c] for c in wanted],
                column_types={raw[c]: pa.string() for c in wanted},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
        return table.rename_columns([n.strip() for n in table.column_names])
    except (UnicodeDecodeError, csv.Error, pa.ArrowException, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise NotFound(f"找不到交易文件 / transactions file not found: {path}") from None
        reason = str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__
        raise LogError(
            f"无法读取交易文件 / cannot read {path.name} as CSV (UTF-8) or Parquet: {reason}"
        ) from None


def _check_columns(names: list[str], wanted: list[str], path: Path) -> None:
    missing = [c for c in wanted if c not in names]
    if missing:
        shown = ", ".join(repr(n) for n in names[:30])
        raise LogError(
            f"列不存在 / unknown column(s) {', '.join(repr(m) for m in missing)} in "
            f"{path.name}; the file has: {shown}"
        )


def _customers(col: pa.ChunkedArray, name: str) -> np.ndarray:
    text = pc.utf8_trim_whitespace(col.combine_chunks().cast(pa.string()))
    empty = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)
    if pc.any(empty).as_py():
        rows = _rows(empty.to_numpy(zero_copy_only=False))
        raise LogError(f"客户编号为空 / column {name!r}: empty customer id at {rows}")
    return np.asarray(text.to_numpy(zero_copy_only=False), dtype=object)


def _days(col: pa.ChunkedArray, name: str, date_format: str | None, today: date) -> np.ndarray:
    arr = col.combine_chunks()
    if pa.types.is_timestamp(arr.type):
        arr = pc.cast(arr, pa.timestamp(arr.type.unit)).cast(pa.date32())  # the written date
    elif pa.types.is_date(arr.type):
        arr = arr.cast(pa.date32())
    else:
        text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        missing = pc.fill_null(pc.equal(pc.utf8_length(text), 0), True)
        if pc.any(missing).as_py():
            raise LogError(
                f"日期为空 / column {name!r}: empty date at "
                f"{_rows(missing.to_numpy(zero_copy_only=False))}"
            )
        if date_format:
            try:
                parsed = pc.strptime(text, format=date_format, unit="s", error_is_null=True)
            except pa.ArrowException as exc:
                raise LogError(
                    f"日期格式无效 / date_format {date_format!r} is not a strptime format: {exc}",
                    field="date_format",
                ) from None
        else:
            ok = pc.match_substring_regex(text, _ISO_DAY)
            head = pc.if_else(ok, pc.utf8_slice_codeunits(text, 0, 10), None)
            parsed = pc.strptime(head, format="%Y-%m-%d", unit="s", error_is_null=True)
        bad = pc.is_null(parsed).to_numpy(zero_copy_only=False)
        if bad.any():
            expected = date_format or "YYYY-MM-DD (可带时间 / optionally with a time)"
            raise LogError(
                f"日期无法解析 / column {name!r}: {_sample(text, bad)} is not a date like "
                f"{expected} at {_rows(bad)} (give date_format, e.g. %Y%m%d)"
            )
        arr = parsed.cast(pa.date32())
    nulls = pc.is_null(arr).to_numpy(zero_copy_only=False)
    if nulls.any():
        raise LogError(f"日期为空 / column {name!r}: empty date at {_rows(nulls)}")
    days = arr.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
    future = days > day_number(today)
    if future.any():
        first = day_date(int(days[future][0]))
        raise LogError(
            f"日期在未来 / column {name!r}: {first} is in the future (after today, {today}) at "
            f"{_rows(future)}"
        )
    return days


def _amounts(col: pa.ChunkedArray, name: str) -> np.ndarray:
    arr = col.combine_chunks()
    if (
        pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
        or pa.types.is_decimal(arr.type)
    ):
        values = arr.cast(pa.float64(), safe=False)
        bad = pc.is_null(values).to_numpy(zero_copy_only=False)
        nums = pc.fill_null(values, 0.0).to_numpy(zero_copy_only=False)
        bad |= ~np.isfinite(nums)
        text = values.cast(pa.string())
    else:
        text = pc.utf8_trim_whitespace(arr.cast(pa.string()))
        ok = pc.fill_null(pc.match_substring_regex(text, _NUMBER), False)
        bad = ~ok.to_numpy(zero_copy_only=False)
        nums = pc.if_else(ok, text, "0").cast(pa.float64()).to_numpy(zero_copy_only=False)
        bad |= ~np.isfinite(nums)
    if bad.any():
        raise LogError(
            f"金额不是数字 / column {name!r}: {_sample(text, bad)} is not a number at {_rows(bad)}"
        )
    negative = nums < 0
    if negative.any():
        raise LogError(
            f"金额为负 / column {name!r}: negative amount {nums[negative][0]:g} at "
            f"{_rows(negative)} (refunds: remove the refunded purchase instead)"
        )
    huge = nums > MAX_AMOUNT
    if huge.any():
        raise LogError(
            f"金额过大 / column {name!r}: {nums[huge][0]:g} is above {MAX_AMOUNT:g} at "
            f"{_rows(huge)}"
        )
    return nums.astype(np.float64)


def read_log(
    path: Path | str,
    *,
    customer_col: str,
    date_col: str,
    amount_col: str | None = None,
    date_format: str | None = None,
    today: date,
) -> TransactionLog:
    """Read and check a transaction log; refuse it whole on the first kind of bad value."""
    path = Path(path)
    for flag, value in (("customer_col", customer_col), ("date_col", date_col)):
        if not value or not value.strip():
            raise LogError(f"{flag}: 列名为空 / an empty column name")
    columns = [customer_col, date_col, *([amount_col] if amount_col else [])]
    table = _read_table(path, columns)
    if table.num_rows == 0:
        raise LogError(f"交易记录为空 / the transaction log {path.name} has no rows")
    customer = _customers(table[customer_col], customer_col)
    day = _days(table[date_col], date_col, date_format, today)
    amount = _amounts(table[amount_col], amount_col) if amount_col else None
    return TransactionLog(customer, day, amount, source=path.name)
