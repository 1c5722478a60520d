"""The FHIR R4 door: Bundles and bulk-export NDJSON into staged canonical tables.

`read_fhir(path)` accepts
- a `.json` (or `.json.gz`) file holding one Bundle (transaction, batch, collection, searchset,
  or any other type with entries; nested Bundles are read too) or a single resource;
- a bulk-export NDJSON file, one resource per line (`Patient.ndjson`, `Observation.000.ndjson`,
  also `.ndjson.gz`), read as a stream;
- a directory: every `.json`, `.json.gz`, `.ndjson` and `.ndjson.gz` file in it, as one input
  (a bulk export, or a folder of Synthea bundles).

Mapped resources: Patient → patients, Observation → observations, Condition,
AllergyIntolerance and FamilyMemberHistory → conditions, Encounter → encounters,
MedicationRequest → prescriptions (see `fhir_resources`). Every other resource type is counted in
`Staged.skipped`. Whole-input facts are settled once everything is read:

- `patients.registered_at`: FHIR has no registration date. The door uses the patient's earliest
  Encounter `period.start` found in the same input, else the Patient's `meta.lastUpdated`, else
  the enclosing Bundle's `timestamp`, else leaves it null (the validator then rejects the row).
- `medicationReference` to a Medication elsewhere in the input is resolved to its code and name.

A malformed NDJSON line, or a resource that cannot be staged (no subject, no value, an id
missing), becomes a `Reject`; a `.json` file that is not JSON raises `InputError`.
"""

from __future__ import annotations

import gc
import gzip
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from careops.errors import InputError
from careops.ingest.base import (
    RAW,
    RECORD,
    STEP,
    Reject,
    Staged,
    bracket_depth,
    deeper_than,
    too_deep,
)
from careops.ingest.fhir_resources import (
    COLUMNS,
    MAPPERS,
    TABLE_OF,
    Context,
    Row,
    medication_codes,
)
from careops.ingest.fhir_values import RecordProblem, instant

_SNIFF_BYTES = 65536
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_ENTRY = re.compile(rb'"entry"\s*:\s*\[')
_RESOURCE_TYPE = re.compile(rb'"resourceType"\s*:\s*"[A-Z][A-Za-z]*"')
_NDJSON_SUFFIXES = (".ndjson", ".ndjson.gz", ".jsonl", ".jsonl.gz")
_JSON_SUFFIXES = (".json", ".json.gz")
_TYPES: dict[str, pa.DataType] = {
    "value": pa.float64(),
    "days_supply": pa.int64(),
    "refills": pa.int64(),
}
_DRUG_CODE = COLUMNS["prescriptions"].index("drug_code")
_DRUG_NAME = COLUMNS["prescriptions"].index("drug_name")
_REGISTERED_AT = COLUMNS["patients"].index("registered_at")
_START_AT = COLUMNS["encounters"].index("start_at")


def read_fhir(
    path: Path | str, *, context: Iterable[Path | str] = (), max_depth: int = 64
) -> Staged:
    """Stage a FHIR R4 input (a Bundle or resource .json, NDJSON, or a directory of them).

    `context`: other files of the same input (the rest of a bulk export when the caller loads
    it file by file). They are not staged; only their Encounters (for `registered_at`) and
    Medications (for `medicationReference`) are consulted, and only when this file needs them.
    Only NDJSON files are consulted (a Bundle is self-contained), and of files named after a
    resource type (`Observation.000.ndjson`) only those of a type that is needed.

    `max_depth`: a resource (an NDJSON line, a Bundle entry) nested deeper is quarantined and
    the rest read; real Bundles nest about 11 deep (Synthea).
    """
    path = Path(path)
    files = _input_files(path)
    stager = _Stager(str(path), max_depth=max_depth)
    with _gc_paused():
        for file in files:
            stager.read_file(file, in_directory=path.is_dir())
        wanted = stager.needs_context()
        if wanted:
            own = {f.resolve() for f in files}
            for other in (Path(c) for c in context):
                if _worth_consulting(other, wanted) and other.resolve() not in own:
                    stager.consult(other, wanted)
        return stager.finish()


def _worth_consulting(path: Path, wanted: frozenset[str]) -> bool:
    if not path.is_file() or _kind(path) != "ndjson":
        return False
    named = path.name.split(".", 1)[0]
    if named[:1].isupper() and named.isalpha():  # bulk export: one resource type per file
        return named in wanted
    return True


def _input_files(path: Path) -> list[Path]:
    if not path.exists():
        raise InputError(f"{path}: 文件或目录不存在 / no such file or directory")
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.is_file() and _kind(p) is not None)
        if not files:
            raise InputError(
                f"{path}: 目录中没有 .json 或 .ndjson 文件 / no .json or .ndjson files in this "
                "directory"
            )
        return files
    if _kind(path) is None:
        raise InputError(
            f"{path}: 不是 FHIR 输入, 应为 .json Bundle 或资源, 或批量导出的 .ndjson (可为 .gz) / "
            "not a FHIR input; expected a .json Bundle or resource, "
            "or bulk-export .ndjson (optionally .gz)"
        )
    return [path]


def looks_like_fhir(path: Path | str) -> bool:
    """Whether `path` looks like FHIR input (for `--kind auto`): a .json / .ndjson file, or a
    directory holding one, whose first record carries a `resourceType`. Reads only the head."""
    path = Path(path)
    if path.is_dir():
        return any(
            looks_like_fhir(p)
            for p in sorted(path.iterdir())
            if p.is_file() and _kind(p) is not None
        )
    if not path.is_file() or _kind(path) is None:
        return False
    try:
        opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
        with opener(path, "rb") as f:
            head = f.read(_SNIFF_BYTES)
    except (OSError, EOFError):
        return False
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"{") and _RESOURCE_TYPE.search(head) is not None


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while parsing: JSON trees hold no cycles, and the
    collector rescanning millions of fresh dicts made large Bundles 2-3x slower."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _kind(path: Path) -> str | None:
    name = path.name.lower()
    if name.endswith(_NDJSON_SUFFIXES):
        return "ndjson"
    if name.endswith(_JSON_SUFFIXES):
        return "json"
    return None


# Parsed JSON holds no cycles, so the encoder may skip its circular-reference bookkeeping.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False)


def _compact(resource: Mapping[str, Any]) -> str:
    return _ENCODER.encode(resource)


class _Stager:
    """Accumulates rows, rejects and counts over every file of one input."""

    def __init__(
        self, source: str, only: frozenset[str] | None = None, max_depth: int = 64
    ) -> None:
        self.max_depth = max_depth
        self.staged = Staged(source=source)
        self.ctx = Context()
        self.rows: dict[str, list[Row]] = {t: [] for t in COLUMNS}
        self.file = source
        self.first_visit: dict[str, tuple[datetime, str]] = {}
        self.pending_drugs: list[tuple[int, str]] = []
        # consulting another file: read only these types, keep no rows, count nothing
        self.only = only
        self.markers = tuple(f'"{t}"' for t in only) if only else ()

    def needs_context(self) -> frozenset[str]:
        """Resource types other files could supply: Encounters for patients with no visit
        here, Medications for drugs not found here."""
        wanted = set()
        if any(row[0] not in self.first_visit for row in self.rows["patients"]):
            wanted.add("Encounter")
        if any(key not in self.ctx.medications for _, key in self.pending_drugs):
            wanted.add("Medication")
        return frozenset(wanted)

    def consult(self, path: Path, wanted: frozenset[str]) -> None:
        """Take Encounter starts and Medications from another file of the same input."""
        other = _Stager(str(path), only=wanted, max_depth=self.max_depth)
        try:
            other.read_file(path, in_directory=True)
        except InputError as e:
            self.staged.warnings.append(f"{path.name} not consulted: {e}")
            return
        for user, (t, start) in other.first_visit.items():
            seen = self.first_visit.get(user)
            if seen is None or t < seen[0]:
                self.first_visit[user] = (t, start)
        for key, drug in other.ctx.medications.items():
            self.ctx.medications.setdefault(key, drug)

    # --- reading -----------------------------------------------------------------------------

    def read_file(self, path: Path, *, in_directory: bool) -> None:
        self.file = str(path)
        if _kind(path) == "ndjson":
            self._read_ndjson(path)
        else:
            self._read_json(path, in_directory=in_directory)

    def _read_ndjson(self, path: Path) -> None:
        opener: Any = gzip.open if path.name.lower().endswith(".gz") else open
        try:
            with opener(path, "rt", encoding="utf-8-sig") as lines:
                self._read_lines(lines)
        except UnicodeDecodeError as e:
            raise InputError(
                f"{path}: 不是有效的 UTF-8 文本 (位于第 {e.start} 字节), 文件无法读取 / not UTF-8 "
                f"text ({e.reason} at byte {e.start}); the file cannot be read"
            ) from None
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: 无法读取 / cannot be read ({e})") from None

    def _read_json(self, path: Path, *, in_directory: bool) -> None:
        try:
            data = path.read_bytes()
            if path.name.lower().endswith(".gz"):
                data = gzip.decompress(data)
        except (OSError, EOFError) as e:
            raise InputError(f"{path}: 无法读取 / cannot be read ({e})") from None
        try:
            if bracket_depth(data) > self.max_depth:
                doc = self._shallow(data, path)
                if doc is None:
                    return
            else:
                doc = json.loads(data)
        except UnicodeDecodeError as e:
            raise InputError(
                f"{path}: 不是有效的 UTF-8 文本 (位于第 {e.start} 字节), 文件无法读取 / not UTF-8 "
                f"text ({e.reason} at byte {e.start}); the file cannot be read"
            ) from None
        except json.JSONDecodeError as e:
            if e.msg == "Extra data" and _first_line_is_resource(data):
                self._read_lines(data.decode("utf-8-sig").splitlines())  # NDJSON named .json
                return
            raise InputError(
                f"{path}: 不是有效的 JSON (第 {e.lineno} 行第 {e.colno} 列), 文件无法读取 / not "
                f"valid JSON (line {e.lineno}, column {e.colno}: {e.msg}); the file cannot be read"
            ) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("resourceType"), str):
            if in_directory:
                self.staged.warnings.append(
                    f"{path.name}: not a FHIR resource or Bundle (no resourceType), ignored"
                )
                return
            raise InputError(
                f"{path}: 不是 FHIR 资源或 Bundle(没有 resourceType) / not a FHIR resource or "
                "Bundle (no resourceType)"
            )
        if doc["resourceType"] == "Bundle":
            self._bundle(doc)
        else:
            self._resource(doc, raw=None, full_url=None, line=None)

    def _read_lines(self, lines: Iterable[str]) -> None:
        for n, line in enumerate(lines, 1):
            text = line.strip()
            if not text or (self.markers and not any(m in text for m in self.markers)):
                continue
            deep = (
                text.count("{") + text.count("[") > self.max_depth
                and bracket_depth(text) > self.max_depth
            )
            try:
                obj = json.loads(text)
            except json.JSONDecodeError as e:
                self.staged.records += 1
                self._reject(
                    f"line {n}",
                    None,
                    f"malformed JSON on line {n}: {e.msg} (column {e.colno})",
                    text,
                    None,
                )
                continue
            except RecursionError:
                deep, obj = True, None
            if deep and (obj is None or deeper_than(obj, self.max_depth)):
                self.staged.records += 1
                self._reject(f"line {n}", None, too_deep(self.max_depth), text, None)
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("resourceType"), str):
                self.staged.records += 1
                self._reject(
                    f"line {n}",
                    "resourceType",
                    f"line {n} is not a FHIR resource (no resourceType)",
                    text,
                    None,
                )
            elif obj["resourceType"] == "Bundle":
                self._bundle(obj)
            else:
                self._resource(obj, raw=text, full_url=None, line=n)

    def _shallow(self, data: bytes, path: Path) -> dict | None:
        """A document nested deeper than `max_depth` somewhere: a Bundle without the entries
        that are too deep (each quarantined), or None when the document is one deep resource
        (quarantined whole). Found by bracket positions, so nothing deep is ever parsed."""
        text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
        masked = _STRING.sub(lambda m: b'"' + b"_" * (len(m[0]) - 2) + b'"', text)
        depth = np.cumsum(STEP[np.frombuffer(masked, np.uint8)], dtype=np.int64)
        entry = next(
            (
                m
                for m in _ENTRY.finditer(text)
                if depth[m.start()] == 1 and masked[m.start() + 1 : m.start() + 6] == b"_____"
            ),
            None,
        )
        if entry is None or masked.lstrip()[:1] != b"{":
            self.staged.records += 1
            self._reject(path.name, None, too_deep(self.max_depth), _decode(text), None)
            return None
        start = entry.end() - 1  # the entry array's [
        ends = np.flatnonzero(depth[start:] == 1)
        if not len(ends):
            raise InputError(
                f"{path}: 不是有效的 JSON (entry 数组没有结束), 文件无法读取 / not valid JSON (the "
                "entry array is not closed); the file cannot be read"
            )
        end = start + int(ends[0])  # its ]
        commas = [
            start + 1 + int(i)
            for i in np.flatnonzero(
                (np.frombuffer(masked[start + 1 : end], np.uint8) == ord(","))
                & (depth[start + 1 : end] == 2)
            )
        ]
        bounds = [start + 1, *[c + 1 for c in commas]]
        stops = [*commas, end]
        entries = []
        for i, (a, b) in enumerate(zip(bounds, stops, strict=True)):
            if a == b or not text[a:b].strip():
                continue
            if int(depth[a:b].max()) > self.max_depth:
                self.staged.records += 1
                self._reject(
                    f"Bundle entry[{i}]",
                    None,
                    too_deep(self.max_depth),
                    _decode(text[a:b].strip()),
                    None,
                )
                continue
            entries.append(json.loads(text[a:b]))
        shell = text[: start + 1] + text[end:]
        if (
            int(depth[: start + 1].max(initial=0)) > self.max_depth
            or int(depth[end:].max(initial=0)) > self.max_depth
        ):
            raise InputError(
                f"{path}: Bundle 本身嵌套超过 {self.max_depth} 层 (设置 ingest.max_depth) / the "
                f"Bundle itself is nested deeper than {self.max_depth} levels (setting "
                "ingest.max_depth)"
            )
        doc = json.loads(shell)
        doc["entry"] = entries
        return doc

    def _bundle(self, bundle: Mapping[str, Any]) -> None:
        entries = bundle.get("entry")
        entries = entries if isinstance(entries, list) else []
        urls = self.ctx.urls
        for e in entries:  # fullUrl map first: references may point forward
            try:
                url, res = e["fullUrl"], e["resource"]
                rtype, rid = res["resourceType"], res.get("id")
            except (KeyError, TypeError, AttributeError):
                continue
            if isinstance(url, str) and isinstance(rtype, str):
                if not isinstance(rid, str) or not rid:
                    rid = url.rsplit("/", 1)[-1].rsplit(":", 1)[-1]
                urls[url] = (rtype, rid)
        outer = self.ctx.bundle_timestamp
        stamp = bundle.get("timestamp")
        self.ctx.bundle_timestamp = stamp if isinstance(stamp, str) and stamp else outer
        for e in entries:
            res = e.get("resource") if isinstance(e, dict) else None
            if not isinstance(res, dict):
                self.staged.skipped["Bundle entry without resource"] += 1
            elif res.get("resourceType") == "Bundle":
                self._bundle(res)
            else:
                self._resource(res, raw=None, full_url=e.get("fullUrl"), line=None)
        self.ctx.bundle_timestamp = outer

    # --- one resource ------------------------------------------------------------------------

    def _resource(
        self, r: Mapping[str, Any], *, raw: str | None, full_url: Any, line: int | None
    ) -> None:
        rtype = r.get("resourceType")
        if self.only is not None and rtype not in self.only:
            return
        self.staged.records += 1
        where = f" (line {line})" if line is not None else ""
        if not isinstance(rtype, str):
            self._reject(
                f"resource{where}", "resourceType", "no resourceType", raw or _compact(r), None
            )
            return
        mapper = MAPPERS.get(rtype)
        if mapper is None and rtype != "Medication":
            self.staged.skipped[rtype] += 1
            return
        rid = r.get("id")
        if not isinstance(rid, str) or not rid:
            if isinstance(full_url, str) and full_url.startswith("urn:uuid:"):
                rid = full_url[len("urn:uuid:") :]
            else:
                self._reject(
                    f"{rtype}{where}",
                    "id",
                    f"{rtype} has no id",
                    raw or _compact(r),
                    TABLE_OF.get(rtype),
                )
                return
        if mapper is None:  # a Medication: not loaded itself, names MedicationRequests' drugs
            self.ctx.medications[f"Medication/{rid}"] = medication_codes(r)
            self.staged.skipped[rtype] += 1
            return
        try:
            result = mapper(r, rid, self.ctx)
        except RecordProblem as p:
            self._reject(
                f"{rtype}/{rid}{where}", p.field, p.reason, raw or _compact(r), TABLE_OF[rtype]
            )
            return
        except (TypeError, AttributeError, KeyError, ValueError, IndexError) as e:
            self._reject(
                f"{rtype}/{rid}{where}",
                None,
                f"unexpected {rtype} structure ({type(e).__name__}: {e})",
                raw or _compact(r),
                TABLE_OF[rtype],
            )
            return
        if isinstance(result, str):
            self.staged.skipped[result] += 1
            return
        if self.only is not None:
            for table, row in result:
                if table == "encounters":
                    self._note_visit(row[1], row[_START_AT])
            return
        text = raw if raw is not None else _compact(r)
        for table, row in result:
            rows = self.rows[table]
            if table == "encounters":
                self._note_visit(row[1], row[_START_AT])
            elif table == "prescriptions" and row[_DRUG_CODE] is None:
                key = self._medication_key(r)
                if key is not None:
                    self.pending_drugs.append((len(rows), key))
            rows.append((*row, text))

    def _medication_key(self, r: Mapping[str, Any]) -> str | None:
        ref = r.get("medicationReference")
        if not isinstance(ref, dict) or str(ref.get("reference", "")).startswith("#"):
            return None
        return self.ctx.medication_key(ref)

    def _note_visit(self, user: str, start: Any) -> None:
        t = instant(start)
        if t is None:
            return
        seen = self.first_visit.get(user)
        if seen is None or t < seen[0]:
            self.first_visit[user] = (t, start)

    def _reject(
        self, record: str, field: str | None, reason: str, raw: str, table: str | None
    ) -> None:
        self.staged.rejects.append(
            Reject(
                source=self.file, record=record, field=field, reason=reason, raw=raw, table=table
            )
        )

    # --- the end -----------------------------------------------------------------------------

    def finish(self) -> Staged:
        """Settle registered_at and referenced drugs, then build each table once."""
        patients = self.rows["patients"]
        for i, row in enumerate(patients):
            visit = self.first_visit.get(row[0])
            if visit is not None:
                patients[i] = (*row[:_REGISTERED_AT], visit[1], *row[_REGISTERED_AT + 1 :])
        prescriptions = self.rows["prescriptions"]
        missing = 0
        for i, key in self.pending_drugs:
            drug = self.ctx.medications.get(key)
            if drug is None:
                missing += 1
                continue
            row = prescriptions[i]
            prescriptions[i] = (
                *row[:_DRUG_CODE],
                drug[0],
                drug[1] or row[_DRUG_NAME],
                *row[_DRUG_NAME + 1 :],
            )
        if missing:
            self.staged.warnings.append(
                f"{missing} MedicationRequest(s) reference a Medication that is not in this "
                "input: their drug code is left empty"
            )
        for table, rows in self.rows.items():
            if rows:
                self.staged.tables[table] = _arrow_table(table, rows)
        return self.staged


def _arrow_table(table: str, rows: list[Row]) -> pa.Table:
    """Columns built once from the row tuples; text columns coerce stray non-strings."""
    names = (*COLUMNS[table], RECORD, RAW)
    arrays = {}
    for name, column in zip(names, zip(*rows, strict=True), strict=True):
        kind = _TYPES.get(name, pa.string())
        try:
            arrays[name] = pa.array(column, type=kind)
        except (pa.ArrowInvalid, pa.ArrowTypeError):
            arrays[name] = pa.array([_text(v) for v in column], type=pa.string())
    return pa.table(arrays)


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict | list):
        return _compact(value)  # type: ignore[arg-type]
    return str(value)


def _decode(data: bytes) -> str:
    return data[: 1 << 16].decode("utf-8", "replace")


def _first_line_is_resource(data: bytes) -> bool:
    first = data.lstrip().split(b"\n", 1)[0]
    try:
        obj = json.loads(first)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return False
    return isinstance(obj, dict) and "resourceType" in obj
