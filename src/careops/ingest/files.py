"""Flat-file doors: CSV (UTF-8 or GBK/GB18030), Parquet and JSON Lines into staged Arrow tables."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from careops.errors import InputError
from careops.ingest.base import RECORD, Reject, Staged

SNIFF_BYTES = 1 << 20


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The file's text encoding: the one given, else UTF-8 (with or without BOM), else GB18030."""
    if encoding:
        import codecs

        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise InputError(f"{path}: unknown encoding {encoding!r} (try utf-8 or gbk)") from None
    head = path.read_bytes()[:SNIFF_BYTES] if path.stat().st_size <= SNIFF_BYTES else \
        _read_head(path)
    if head.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        head.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a character cut by the sniff window
            return "utf-8"
    try:
        head.decode("gb18030")
        return "gb18030"
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(head).best()
    if best is None:
        raise InputError(f"{path}: cannot tell the text encoding; pass --encoding (e.g. gbk)")
    return best.encoding


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


def read_csv(path: Path, encoding: str | None = None) -> Staged:
    """Read a CSV with every column as text; malformed rows become rejects with their line."""
    enc = detect_encoding(path, encoding)
    if path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty (no header, no rows)")
    header = _header(path, enc)
    staged = Staged(source=str(path))
    bad_rows: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        bad_rows.clear()
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(encoding=enc, use_threads=use_threads,
                                           block_size=16 << 20),
            parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid,
                                             newlines_in_values=False),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False, quoted_strings_can_be_null=False),
        )

    try:
        table = read(use_threads=True)
        if bad_rows:  # row numbers are only known when read on one thread
            table = read(use_threads=False)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not valid {enc} text ({exc.reason} at byte {exc.start}); "
                         "pass the right --encoding, e.g. --encoding gbk") from None
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "utf8" in msg.lower() or "utf-8" in msg.lower():
            raise InputError(f"{path}: not valid {enc} text; pass the right --encoding, "
                             "e.g. --encoding gbk") from None
        raise InputError(f"{path}: unreadable CSV: {msg}") from None
    staged.records = len(table) + len(bad_rows)
    skipped_lines = sorted(r.number for r in bad_rows if r.number is not None)
    table = table.append_column(RECORD, pa.array(_line_numbers(len(table), skipped_lines),
                                                 pa.string()))
    for row in bad_rows:
        staged.rejects.append(Reject(
            source=str(path), record=f"row {row.number}" if row.number else "row ?",
            field=None, raw=row.text,
            reason=f"expected {row.expected_columns} fields, found {row.actual_columns} "
                   "(truncated or malformed line)"))
    staged.tables["?"] = table
    return staged


def _line_numbers(n: int, skipped: list[int]) -> list[str]:
    """Physical line numbers of the n parsed rows (header is line 1), skipping bad lines."""
    out, line, s = [], 2, 0
    for _ in range(n):
        while s < len(skipped) and skipped[s] == line:
            line += 1
            s += 1
        out.append(f"row {line}")
        line += 1
    return out


def _header(path: Path, enc: str) -> list[str]:
    with path.open("r", encoding=enc, newline="") as fh:
        try:
            first = fh.readline()
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not valid {enc} text ({exc.reason}); pass the right "
                             "--encoding, e.g. --encoding gbk") from None
    names = next(csv.reader(io.StringIO(first)), [])
    names = [n.strip() for n in names]
    if not names or not any(names):
        raise InputError(f"{path}: no header line; the first line must name the columns")
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(f"{path}: header repeats column(s) {', '.join(dupes)}")
    return names


def read_parquet(path: Path) -> Staged:
    """Read a Parquet file (or a folder of them) as it is typed."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: unreadable Parquet ({exc}); the file may be truncated") \
            from None
    table = table.append_column(RECORD, pa.array([f"row {i + 1}" for i in range(len(table))],
                                                 pa.string()))
    return Staged(source=str(path), tables={"?": table}, records=len(table))


def read_jsonl(path: Path, encoding: str | None = None) -> Staged:
    """Read JSON Lines: one object per line; nested values are kept as JSON text."""
    enc = detect_encoding(path, encoding)
    staged = Staged(source=str(path))
    rows: list[dict] = []
    records: list[str] = []
    with path.open("r", encoding=enc) as fh:
        try:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                staged.records += 1
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    staged.rejects.append(Reject(str(path), f"line {number}", None,
                                                 f"malformed JSON: {exc.msg}", line.rstrip()))
                    continue
                if not isinstance(obj, dict):
                    staged.rejects.append(Reject(str(path), f"line {number}", None,
                                                 "a line must hold one JSON object",
                                                 line.rstrip()))
                    continue
                rows.append(obj)
                records.append(f"line {number}")
        except UnicodeDecodeError as exc:
            raise InputError(f"{path}: not valid {enc} text ({exc.reason}); pass the right "
                             "--encoding") from None
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        for key in row:
            columns.setdefault(key, [None] * i)
        for key, values in columns.items():
            v = row.get(key)
            values.append(json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list)
                          else (None if v is None else str(v)))
    data = {k: pa.array(v, pa.string()) for k, v in columns.items()}
    data[RECORD] = pa.array(records, pa.string())
    staged.tables["?"] = pa.table(data) if rows else pa.table({RECORD: pa.array([], pa.string())})
    return staged
