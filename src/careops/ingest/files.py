"""Flat-file doors: CSV (UTF-8 or GBK/GB18030), Parquet and JSON Lines into staged Arrow tables."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from careops.errors import InputError
from careops.ingest.base import RECORD, Reject, Staged, bracket_depth, deeper_than, too_deep

SNIFF_BYTES = 1 << 20
# JSON Lines fields become columns of every row: one line with 12,000 keys in a file of 20,000
# rows made 240 million cells (12 GB). Lines past this many distinct fields are quarantined.
MAX_FIELDS = 1000


def detect_encoding(path: Path, encoding: str | None = None) -> str:
    """The file's text encoding: the one given, else UTF-8 (with or without BOM), else GB18030."""
    if encoding:
        import codecs

        try:
            return codecs.lookup(encoding).name
        except LookupError:
            raise InputError(
                f"{path}: 未知编码 {encoding!r}(可试 utf-8 或 gbk) / unknown encoding {encoding!r} "
                "(try utf-8 or gbk)",
                field="encoding",
            ) from None
    head = (
        path.read_bytes()[:SNIFF_BYTES] if path.stat().st_size <= SNIFF_BYTES else _read_head(path)
    )
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
        raise InputError(
            f"{path}: 无法判断文本编码, 请指定编码 (如 gbk) / cannot tell the text encoding; "
            "name the encoding (e.g. gbk)",
            field="encoding",
        )
    return best.encoding


def _read_head(path: Path) -> bytes:
    with path.open("rb") as fh:
        return fh.read(SNIFF_BYTES)


# Characters real text almost never holds, but mis-decoded bytes do: C1 controls, U+FFFD (bytes
# lost earlier), private-use code points, a byte-order mark inside the text (files concatenated).
_UNLIKELY = re.compile("[\x80-\x9f\ufffd\ufeff\ue000-\uf8ff\U000f0000-\U0010ffff]")
# ... and, in a GB18030 file, CJK extension B-F: GBK has none of them, but UTF-8 bytes read as
# GB18030 four-byte sequences can land there.
_UNLIKELY_GB = re.compile(
    "[\x80-\x9f\ufffd\ufeff\ue000-\uf8ff\U000f0000-\U0010ffff\U00020000-\U0002fa1f]"
)
_CHUNK = 16 << 20


def _clean_utf8(path: Path, enc: str, *, check_valid: bool = True) -> bool:
    """Whether a UTF-8 file holds no unlikely character (and, if `check_valid`, decodes whole);
    read in chunks with numpy byte tests (194 MB in about half a second)."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    tail = b""
    with path.open("rb") as fh:
        first = True
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            if check_valid:
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError:
                    return False
            if first and chunk.startswith(b"\xef\xbb\xbf"):
                chunk = chunk[3:]
            first = False
            if _has_unlikely_utf8(tail + chunk):
                return False
            tail = chunk[-3:]
    if check_valid:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return False
    return True


def _has_unlikely_utf8(data: bytes) -> bool:
    """Whether UTF-8 bytes encode a C1 control, U+FFFD, U+FEFF or a private-use code point
    (single-byte searches first, numpy for the byte after a lead byte only if it occurs)."""
    if b"\xee" in data or b"\xf3" in data or b"\xf4" in data:
        return True
    arr = np.frombuffer(data, np.uint8)
    if b"\xc2" in data:
        at = np.flatnonzero(arr[:-1] == 0xC2)
        nxt = arr[at + 1]
        if bool(np.any((nxt >= 0x80) & (nxt <= 0x9F))):
            return True
    if b"\xef" in data:
        at = np.flatnonzero(arr[:-2] == 0xEF)
        nxt, last = arr[at + 1], arr[at + 2]
        if bool(
            np.any(
                ((nxt >= 0x80) & (nxt <= 0xA3))
                | ((nxt == 0xBF) & (last == 0xBD))
                | ((nxt == 0xBB) & (last == 0xBF))
            )
        ):
            return True
    return False


@dataclass
class _Lines:
    """A text file decoded line by line: the good lines (as UTF-8) and the bad ones."""

    encoding: str
    kept: list[int]  # physical line number of each kept line
    data: bytes  # the kept lines, UTF-8, one per line
    bad: list[tuple[int, str, str]]  # line number, reason, the line as best decoded


def _decode_lines(path: Path, enc: str, explicit: bool) -> _Lines:
    """Decode each line on its own, in the file's main encoding; lines that do not decode in
    it, or decode only to unlikely characters, are set aside with the reason.

    The main encoding is the one given, else the one most non-ASCII lines are valid in (UTF-8
    or GB18030), so a UTF-8 export with a few GBK rows keeps its UTF-8 rows and the other way
    round.
    """
    raw = path.read_bytes()
    if raw.startswith(b"\xef\xbb\xbf"):
        raw = raw[3:]
    lines = raw.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    utf8_ok = utf8_bad = 0
    for line in lines:
        if line.isascii():
            continue
        if _is_utf8_text(line):
            utf8_ok += 1
        elif not _valid_utf8(line):
            utf8_bad += 1
    if not explicit:
        enc = "utf-8" if utf8_ok >= utf8_bad else "gb18030"
    is_utf8 = enc.replace("_", "-").lower() in ("utf-8", "utf-8-sig", "utf8")
    enc = "utf-8" if is_utf8 else enc
    unlikely = _UNLIKELY if is_utf8 else _UNLIKELY_GB
    kept: list[int] = []
    out: list[bytes] = []
    bad: list[tuple[int, str, str]] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip(b"\r"):
            continue
        if line.isascii():
            text = line.decode("ascii")
        else:
            try:
                text = line.decode(enc)
            except UnicodeDecodeError as exc:
                bad.append(
                    (
                        number,
                        f"行不是 {enc} 编码 / line is not valid {enc} text "
                        f"({exc.reason} at byte {exc.start}); the file mixes encodings",
                        line.decode(enc, "replace"),
                    )
                )
                continue
            if is_utf8 and utf8_ok and _gbk_by_chance(line, text):
                bad.append(
                    (
                        number,
                        "行像是 GBK 编码 / line looks like GBK text that happens to "
                        f"be valid UTF-8 ({text[:40]!r}); the file mixes encodings",
                        line.decode("gb18030", "replace"),
                    )
                )
                continue
            if not is_utf8 and _is_utf8_text(line):
                bad.append(
                    (
                        number,
                        f"行是 UTF-8 编码, 文件是 {enc} / line is UTF-8 text in a "
                        f"{enc} file; the file mixes encodings",
                        line.decode("utf-8"),
                    )
                )
                continue
            odd = unlikely.search(text)
            if odd:
                bad.append(
                    (
                        number,
                        f"行含异常字符 / line holds an unlikely character "
                        f"U+{ord(odd.group()):04X} at column {odd.start() + 1} (mis-decoded "
                        "or corrupted text)",
                        text,
                    )
                )
                continue
        kept.append(number)
        out.append(text.encode("utf-8"))
    if explicit and bad and len(bad) > len(kept) - 1:
        raise InputError(
            f"{path}: 第 {bad[0][0]} 行不是有效的 {enc} 文本, 请指定正确的编码 (如 gbk) / not "
            f"valid {enc} text (line {bad[0][0]}); name the right encoding, e.g. gbk",
            field="encoding",
        )
    return _Lines(enc, kept, b"\n".join(out) + b"\n", bad)


_NARROW_ODD = re.compile("[\u0180-\u07ff]")
_CJK_ONLY = re.compile("[\x00-\x7f\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]*")


def _gbk_by_chance(line: bytes, text: str) -> bool:
    """Whether a valid UTF-8 line of a Chinese UTF-8 file is really GBK: no character beyond
    U+07FF, some in U+0180-U+07FF (Cyrillic, IPA…, where GBK lead bytes C6-DF land), and all
    Chinese when read as GB18030 (药品 in GBK reads as UTF-8 'ҩƷ')."""
    if _WIDE_UTF8.search(line) or not _NARROW_ODD.search(text):
        return False
    try:
        return _CJK_ONLY.fullmatch(line.decode("gb18030")) is not None
    except UnicodeDecodeError:
        return False


def _valid_utf8(line: bytes) -> bool:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


_WIDE_UTF8 = re.compile(rb"[\xe0-\xf4][\x80-\xbf]{2}")


def _is_utf8_text(line: bytes) -> bool:
    """Whether a line is UTF-8 text with a character beyond U+07FF (Chinese is): GBK text is
    often valid UTF-8 by chance in two-byte pairs (女 is C5 AE, UTF-8 for Ů), seldom in three."""
    return _WIDE_UTF8.search(line) is not None and _valid_utf8(line)


def read_csv(path: Path, encoding: str | None = None) -> Staged:
    """Read a CSV with every column as text; malformed rows become rejects with their line.

    A clean UTF-8 file is read by Arrow as it is. Any other file (GBK, mixed encodings,
    mis-decoded characters) is decoded line by line first: lines that are not text of the file's
    encoding are quarantined, with a file-level warning, and the rest is read.
    """
    enc = detect_encoding(path, encoding)
    if path.stat().st_size == 0:
        raise InputError(
            f"{path}: 文件为空(没有表头, 也没有数据行) / the file is empty (no header, no rows)"
        )
    lines = None
    source: Path | io.BytesIO = path
    if not (enc in ("utf-8", "utf-8-sig") and _clean_utf8(path, enc, check_valid=False)):
        lines, enc, source = _by_line(path, enc, encoding)
    try:
        header = _header(source, enc, path)
    except InputError:
        if lines is not None:
            raise
        lines, enc, source = _by_line(path, enc, encoding)  # not UTF-8 after the sniffed head
        header = _header(source, enc, path)
    staged = Staged(source=str(path))
    bad_rows: list[pacsv.InvalidRow] = []

    def on_invalid(row: pacsv.InvalidRow) -> str:
        bad_rows.append(row)
        return "skip"

    def read(use_threads: bool) -> pa.Table:
        bad_rows.clear()
        if isinstance(source, io.BytesIO):
            source.seek(0)
        return pacsv.read_csv(
            source,
            read_options=pacsv.ReadOptions(
                encoding=enc, use_threads=use_threads, block_size=16 << 20
            ),
            parse_options=pacsv.ParseOptions(
                invalid_row_handler=on_invalid, newlines_in_values=False
            ),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )

    try:
        try:
            table = read(use_threads=True)
        except pa.ArrowInvalid as exc:  # invalid UTF-8 past the sniffed head: line by line
            if lines is not None or "utf8" not in str(exc).lower():
                raise
            lines, enc, source = _by_line(path, enc, encoding)
            table = None
        if table is None or bad_rows or lines is not None:  # row numbers need one thread
            table = read(use_threads=False)
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: 不是有效的 {enc} 文本 (第 {exc.start} 字节), 请指定正确的编码 (如 gbk) / "
            f"not valid {enc} text ({exc.reason} at byte {exc.start}); name the right "
            "encoding, e.g. gbk",
            field="encoding",
        ) from None
    except pa.ArrowInvalid as exc:
        msg = str(exc)
        if "utf8" in msg.lower() or "utf-8" in msg.lower():
            raise InputError(
                f"{path}: 不是有效的 {enc} 文本, 请指定正确的编码 (如 gbk) / not valid {enc} "
                "text; name the right encoding, e.g. gbk",
                field="encoding",
            ) from None
        raise InputError(f"{path}: 无法读取的 CSV 文件 / unreadable CSV: {msg}") from None
    staged.records = len(table) + len(bad_rows) + (len(lines.bad) if lines else 0)

    def physical(n: int | None) -> int | None:
        """A line number of what Arrow read as the physical line of the file."""
        return n if lines is None or n is None else lines.kept[n - 1]

    skipped_lines = sorted(r.number for r in bad_rows if r.number is not None)
    if lines is not None:
        skipped = set(skipped_lines)
        parsed = [lines.kept[i] for i in range(1, len(lines.kept)) if i + 1 not in skipped]
        table = table.append_column(RECORD, pa.array([f"row {n}" for n in parsed], pa.string()))
    elif skipped_lines:  # line numbers shift past each skipped line
        table = table.append_column(
            RECORD, pa.array(_line_numbers(len(table), skipped_lines), pa.string())
        )
    else:
        staged.first_row = 2
    for row in bad_rows:
        number = physical(row.number)
        staged.rejects.append(
            Reject(
                source=str(path),
                record=f"row {number}" if number else "row ?",
                field=None,
                raw=row.text,
                reason=f"expected {row.expected_columns} fields, found {row.actual_columns} "
                "(truncated or malformed line)",
            )
        )
    if lines is not None and lines.bad:
        for number, reason, text in lines.bad:
            staged.rejects.append(
                Reject(
                    source=str(path), record=f"row {number}", field=None, reason=reason, raw=text
                )
            )
        staged.warnings.append(
            f"{len(lines.bad)} 行编码有误, 已隔离 / {len(lines.bad)} line(s) "
            f"not readable as {lines.encoding} text were quarantined "
            "(mixed encodings or corrupted characters)"
        )
    staged.tables["?"] = table
    return staged


def _by_line(path: Path, enc: str, encoding: str | None) -> tuple[_Lines, str, io.BytesIO]:
    lines = _decode_lines(path, enc, explicit=encoding is not None)
    if not lines.kept or lines.kept[0] != 1:
        first = lines.bad[0][1] if lines.bad and lines.bad[0][0] == 1 else "empty"
        raise InputError(
            f"{path}: 表头行无法读取 ({first}), 请指定正确的编码 (如 gbk) / the header line "
            f"cannot be read ({first}); name the right encoding, e.g. gbk",
            field="encoding",
        )
    return lines, "utf-8", io.BytesIO(lines.data)


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


def _header(source: Path | io.BytesIO, enc: str, path: Path) -> list[str]:
    if isinstance(source, io.BytesIO):
        first = source.getvalue().split(b"\n", 1)[0].decode("utf-8")
    else:
        with source.open("r", encoding=enc, newline="") as fh:
            try:
                first = fh.readline()
            except UnicodeDecodeError as exc:
                raise InputError(
                    f"{path}: 不是有效的 {enc} 文本, 请指定正确的编码 (如 gbk) / not valid {enc} "
                    f"text ({exc.reason}); name the right encoding, e.g. gbk",
                    field="encoding",
                ) from None
    names = next(csv.reader(io.StringIO(first)), [])
    names = [n.strip() for n in names]
    if not names or not any(names):
        raise InputError(
            f"{path}: 没有表头: 第一行必须是列名 / no header line; the first line must name the "
            "columns"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise InputError(
            f"{path}: 表头中重复的列 {', '.join(dupes)} / header repeats column(s) "
            f"{', '.join(dupes)}"
        )
    return names


def read_parquet(path: Path) -> Staged:
    """Read a Parquet file (or a folder of them) as it is typed."""
    try:
        table = pq.read_table(path)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(
            f"{path}: 无法读取的 Parquet 文件, 文件可能不完整 / unreadable Parquet ({exc}); the "
            "file may be truncated"
        ) from None
    return Staged(source=str(path), tables={"?": table}, records=len(table))


def read_jsonl(path: Path, encoding: str | None = None, *, max_depth: int = 64) -> Staged:
    """Read JSON Lines: one object per line; nested values are kept as JSON text.

    A line that is not JSON, not an object, nested deeper than `max_depth`, or not text of the
    file's encoding (decoded line by line, as for CSV) is quarantined; the rest loads.
    """
    enc = detect_encoding(path, encoding)
    staged = Staged(source=str(path))
    rows: list[dict] = []
    records: list[str] = []
    known: dict[str, None] = {}
    numbered: Iterable[tuple[int, str]]
    if enc in ("utf-8", "utf-8-sig") and _clean_utf8(path, enc):
        numbered = _numbered_lines(path, enc)
    else:
        lines = _decode_lines(path, enc, explicit=encoding is not None)
        texts = lines.data.decode("utf-8").split("\n")
        numbered = list(zip(lines.kept, texts, strict=False))
        for number, reason, text in lines.bad:
            staged.records += 1
            staged.rejects.append(Reject(str(path), f"line {number}", None, reason, text))
        if lines.bad:
            staged.warnings.append(
                f"{len(lines.bad)} 行编码有误, 已隔离 / {len(lines.bad)} "
                f"line(s) not readable as {lines.encoding} text were "
                "quarantined (mixed encodings or corrupted characters)"
            )
    for number, line in numbered:
        if not line.strip():
            continue
        staged.records += 1
        obj, reason = _json_line(line, max_depth)
        if reason is not None:
            staged.rejects.append(Reject(str(path), f"line {number}", None, reason, line.rstrip()))
            continue
        fresh = [k for k in obj if k not in known]
        if fresh and len(known) + len(fresh) > MAX_FIELDS:
            staged.rejects.append(
                Reject(
                    str(path),
                    f"line {number}",
                    None,
                    f"字段过多 / the line adds {len(fresh):,} new field(s); a file may have at "
                    f"most {MAX_FIELDS:,} distinct fields (every row would carry them all)",
                    line.rstrip(),
                )
            )
            continue
        known.update(dict.fromkeys(fresh))
        rows.append(obj)
        records.append(f"line {number}")
    del numbered
    columns: dict[str, list] = {}
    for i, row in enumerate(rows):
        for key in row:
            columns.setdefault(key, [None] * i)
        for key, values in columns.items():
            v = row.get(key)
            values.append(
                json.dumps(v, ensure_ascii=False)
                if isinstance(v, dict | list)
                else (None if v is None else str(v))
            )
    data = {k: pa.array(v, pa.string()) for k, v in columns.items()}
    data[RECORD] = pa.array(records, pa.string())
    staged.tables["?"] = pa.table(data) if rows else pa.table({RECORD: pa.array([], pa.string())})
    return staged


def _numbered_lines(path: Path, enc: str) -> Iterator[tuple[int, str]]:
    with path.open("r", encoding=enc) as fh:
        yield from enumerate(fh, start=1)


def _json_line(line: str, max_depth: int) -> tuple[dict, None] | tuple[None, str]:
    """One JSON Lines record, or why it is not one."""
    deep = line.count("{") + line.count("[") > max_depth and bracket_depth(line) > max_depth
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        return None, f"malformed JSON: {exc.msg}"
    except RecursionError:
        return None, too_deep(max_depth)
    if not isinstance(obj, dict):
        return None, "a line must hold one JSON object"
    if deep and deeper_than(obj, max_depth):
        return None, too_deep(max_depth)
    return obj, None
