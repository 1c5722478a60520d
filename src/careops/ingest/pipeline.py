"""Ingest files and folders: find each file's kind, read, map, validate, load atomically.

One source file is one batch: it loads whole, or (above the bad-row limit) not at all. Files
are taken in dependency order (catalogue and patients before what refers to them), so a
folder of exports loads with unknown-user flags only where a user really is unknown.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pyarrow as pa
from ibis.backends import BaseBackend

from careops.config import Settings
from careops.errors import InputError
from careops.ingest.base import Reject, Staged
from careops.ingest.fhir import looks_like_fhir, read_fhir
from careops.ingest.files import read_csv, read_jsonl, read_parquet
from careops.ingest.mapping import Mapping
from careops.ingest.quarantine import resolve, split_repair
from careops.ingest.raw_text import identifier_fields, mask_raw
from careops.ingest.validate import validate
from careops.privacy.contacts import contacts_key, protect
from careops.privacy.identifiers import find_identifiers
from careops.schema import TABLES
from careops.sim.writer import GROUND_TRUTH
from careops.warehouse.connect import backend_kind
from careops.warehouse.load import Batch, TablePart, apply_batch

KINDS = ("auto", "fhir", *TABLES)
ORDER = ["doctors", "catalogue", "patients", "marketing_spend", "enrollments"]
DATA_SUFFIXES = {".csv", ".tsv", ".txt", ".parquet", ".pq", ".jsonl", ".ndjson", ".json", ".gz"}
FHIR_TYPES = {
    "Patient",
    "Observation",
    "Condition",
    "Encounter",
    "MedicationRequest",
    "AllergyIntolerance",
    "FamilyMemberHistory",
    "Medication",
    "Bundle",
}


@dataclass
class FileResult:
    """What happened to one file."""

    source: str
    status: str  # loaded | rejected | unreadable | skipped | already_loaded
    message: str = ""
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    load_id: str | None = None
    warnings: list[str] = field(default_factory=list)
    hint: dict[str, str] | None = None  # the next step: an i18n label key and its fields
    argument: str | None = None  # the argument to change (`kind`, `encoding`): the shell names it
    replaces: list[str] = field(default_factory=list)  # earlier loads of the file it replaced
    removed: dict[str, int] = field(default_factory=dict)  # table -> rows of those loads removed


@dataclass
class IngestReport:
    """The outcome of one `careops ingest` run."""

    files: list[FileResult] = field(default_factory=list)
    notes: list[dict[str, str]] = field(default_factory=list)  # i18n label key and its fields

    @property
    def tables(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for f in self.files:
            if f.status != "loaded":
                continue
            for table, counts in f.tables.items():
                acc = out.setdefault(
                    table, {"loaded": 0, "duplicates": 0, "quarantined": 0, "flagged": 0}
                )
                for k, v in counts.items():
                    acc[k] = acc.get(k, 0) + v
        return out

    @property
    def removed(self) -> dict[str, int]:
        """Rows of earlier loads that `--replace` removed, per table."""
        out: dict[str, int] = {}
        for f in self.files:
            for table, n in f.removed.items():
                out[table] = out.get(table, 0) + n
        return out

    @property
    def exit_code(self) -> int:
        statuses = {f.status for f in self.files}
        if "unreadable" in statuses or not any(s != "skipped" for s in statuses):
            return 2
        return 1 if "rejected" in statuses else 0

    def to_json(self) -> dict:
        return {
            "tables": self.tables,
            "rejected": [
                {"source": f.source, "reason": f.message}
                for f in self.files
                if f.status == "rejected"
            ],
            "unreadable": [
                {"source": f.source, "reason": f.message}
                for f in self.files
                if f.status == "unreadable"
            ],
            "skipped": [
                {"source": f.source, "reason": f.message}
                for f in self.files
                if f.status in ("skipped", "already_loaded")
            ],
            "removed": self.removed,
            "files": [f.__dict__ for f in self.files],
            "notes": [message(n, "en") for n in self.notes],
            "exit_code": self.exit_code,
        }


Progress = Callable[[str, int, int], None]


def ingest_paths(
    con: BaseBackend,
    paths: Iterable[Path],
    *,
    settings: Settings,
    kind: str = "auto",
    mapping: Mapping | None = None,
    encoding: str | None = None,
    max_bad_ratio: float | None = None,
    progress: Progress | None = None,
    replace: bool = False,
    on_file: Callable[[FileResult], None] | None = None,
) -> IngestReport:
    """Ingest every file under `paths` into the warehouse `con`.

    `replace`: each file corrects its earlier loads (the `_loads` ledger knows them, see
    `earlier_loads`): the rows those loads inserted are removed whole and the file is loaded
    anew, in one transaction. `on_file`: called with each file's result as soon as it is done
    (the service audits there).
    """
    if kind not in KINDS:
        raise InputError(
            f"未知的文件类型 {kind!r}, 可选: {', '.join(KINDS)} / unknown kind {kind!r}; use "
            f"one of: {', '.join(KINDS)}",
            field="kind",
        )
    if replace and backend_kind(con) == "pyspark":
        raise InputError(
            "Spark 仓库不支持替换导入 / replacing a load needs a DuckDB or PostgreSQL "
            "warehouse (Spark tables cannot delete rows)",
            field="replace",
        )
    ratio = settings.ingest.max_bad_ratio if max_bad_ratio is None else max_bad_ratio
    report = IngestReport()
    files: list[tuple[Path, str | None]] = []
    answers: dict[Path, set[str]] = {}
    for path in paths:
        path = Path(path)
        if not path.exists():
            raise InputError(f"{path}: 文件或目录不存在 / no such file or folder")
        for file in _expand(path):
            root = _simulator_root(file)
            if root is not None:
                part = file.relative_to(root).parts[0]
                answers.setdefault(root, set()).add(part + ("/" if part == GROUND_TRUTH else ""))
                continue
            files.append((file, _kind_of(file, kind, mapping, in_folder=path.is_dir())))
    report.notes = [
        {
            "key": "simulator_note",
            "folder": str(root),
            "files": ", ".join(sorted(parts, reverse=True)),
        }
        for root, parts in answers.items()
    ]
    files.sort(key=_rank)
    earlier = {file: earlier_loads(con, file, k) if replace else [] for file, k in files}
    never = [str(f) for f, loads in earlier.items() if replace and not loads]
    if never:
        raise InputError(
            f"替换导入: {', '.join(never)} 从未成功导入过, 请直接导入 / replace: never loaded "
            "(no 'loaded' entry in the _loads ledger for this path, this content or this "
            "file name); ingest it without replacing",
            field="replace",
        )
    known = _known_users(con)
    for n, (file, file_kind) in enumerate(files, start=1):
        if progress:
            progress(str(file), n, len(files))
        siblings = [f for f, k in files if k == "fhir" and f.parent == file.parent]
        result, loaded_patients = _ingest_file(
            con,
            file,
            file_kind,
            settings=settings,
            mapping=mapping,
            encoding=encoding,
            ratio=ratio,
            known=known,
            siblings=siblings,
            replaces=earlier[file],
        )
        if loaded_patients is not None:
            known = pa.concat_arrays([known, loaded_patients])
        report.files.append(result)
        if on_file:
            on_file(result)
    return report


def _simulator_root(file: Path) -> Path | None:
    """The simulator output folder `file` is an answer of (ground truth, calibration), if any."""
    for parent in list(file.parents)[:2]:
        if (parent / GROUND_TRUTH / "config.json").is_file() and (
            file == parent / "calibration.json" or file.parent == parent / GROUND_TRUTH
        ):
            return parent
    return None


def message(msg: dict[str, str], lang: str = "zh") -> str:
    """A next step or note (an i18n label key and its fields) in `lang`."""
    from careops.i18n import label

    return label(msg["key"], lang).format(**msg)  # type: ignore[arg-type]


def _rank(file_kind: tuple[Path, str | None]) -> int:
    """Load order: reference tables, patients (FHIR Patient files too), then the rest."""
    path, kind = file_kind
    if kind in ORDER:
        return ORDER.index(kind)
    if kind == "fhir":
        return ORDER.index("patients") if path.name.startswith("Patient") else len(ORDER)
    return len(ORDER) + 1


def _expand(path: Path) -> list[Path]:
    """The files of `path`; in a folder, those not hidden below it (a dot in the folder's own
    path, ~/.cache/exports, does not count). A folder with nothing to read is an error that
    says what it holds."""
    if path.is_file():
        return [path]
    found = sorted(p for p in path.rglob("*") if p.is_file())
    files = [
        p for p in found if not any(part.startswith(".") for part in p.relative_to(path).parts)
    ]
    if not files:
        hidden = [str(p.relative_to(path)) for p in found]
        shown = ", ".join(hidden[:5]) + (" …" if len(hidden) > 5 else "")
        raise InputError(
            f"文件夹 {path} 中没有可导入的文件 / no files to import in {path} "
            + (
                f"(找到 {len(found)} 个文件, 均为隐藏文件 / found {len(found)} "
                f"file(s), all hidden: {shown})"
                if found
                else "(文件夹是空的 / the folder is empty)"
            )
        )
    return files


def _kind_of(path: Path, kind: str, mapping: Mapping | None, in_folder: bool = False) -> str | None:
    """The canonical table (or 'fhir') a file holds, from --kind, mapping, name or content.

    None: not a data file we know. "?": decide from the columns once read ("?folder" when the
    file was found in a folder, where a file matching no table is skipped, not an error).
    """
    if kind != "auto":
        return kind
    if mapping and mapping.table:
        return mapping.table
    suffixes = [s.lower() for s in path.suffixes]
    if not suffixes or suffixes[-1] not in DATA_SUFFIXES:
        return None
    name = path.name.split(".")[0]
    if name in FHIR_TYPES and ".ndjson" in suffixes:
        return "fhir"
    if suffixes[-1] in (".json", ".ndjson", ".gz") and looks_like_fhir(path):
        return "fhir"
    for candidate in (name.lower(), path.parent.name.lower()):
        for table in sorted(TABLES, key=len, reverse=True):
            if candidate == table or candidate.startswith((table + "_", table + "-")):
                return table
    if suffixes[-1] == ".json" and in_folder:
        return None  # a JSON document that is not FHIR (JSON Lines are .jsonl / .ndjson)
    return "?folder" if in_folder else "?"


def _known_users(con: BaseBackend) -> pa.Array:
    ids = con.table("patients").select("user_id").to_pyarrow()["user_id"]
    return ids.combine_chunks().cast(pa.string())


def _content_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _already_loaded(con: BaseBackend, content_hash: str) -> str | None:
    loads = con.table("_loads")
    hit = (
        loads.filter((loads.content_hash == content_hash) & (loads.status == "loaded"))
        .select("load_id")
        .limit(1)
        .to_pyarrow()
    )
    return hit["load_id"][0].as_py() if len(hit) else None


def earlier_loads(con: BaseBackend, file: Path, kind: str | None = None) -> list[str]:
    """The successful loads a corrected `file` replaces, oldest first; none already replaced.

    Recognised, in this order: by the file's canonical (absolute, resolved) path — recorded in
    the ledger, or for older entries the recorded source resolved from here; else by the same
    content (the file was loaded under another path and is now loaded with a corrected mapping);
    else by the file name (and its table when `kind` names one). Loads of two different files
    matched only by name are ambiguous: an error names them.
    """
    loads = con.table("_loads")
    rows = (
        loads.filter(loads.status == "loaded")
        .select("load_id", "source", "path", "content_hash", "table_name", "started_at", "replaces")
        .to_pyarrow()
        .to_pylist()
    )
    if not rows:
        return []
    gone = {x for r in rows if r["replaces"] for x in r["replaces"].split(",")}
    rows = [r for r in rows if r["load_id"] not in gone]
    canonical = str(file.resolve())

    def path_of(r: dict) -> str:
        return r["path"] or str(Path(r["source"]).resolve())

    hits = [r for r in rows if path_of(r) == canonical]
    if not hits:
        digest = _content_hash(file)
        hits = [r for r in rows if r["content_hash"] == digest]
    if not hits:
        hits = [
            r
            for r in rows
            if Path(r["source"]).name == file.name
            and (kind not in TABLES or r["table_name"] == kind)
        ]
        paths = sorted({path_of(r) for r in hits})
        if len(paths) > 1:
            raise InputError(
                f"替换导入: {file} 同名的文件导入过多次, 无法确定替换哪个 / replace: "
                f"files named {file.name} were loaded from several places "
                f"({', '.join(paths)}); give the path of the one to correct",
                field="replace",
            )
    first: dict[str, dt.datetime] = {}
    for r in hits:
        first[r["load_id"]] = min(first.get(r["load_id"], r["started_at"]), r["started_at"])
    return sorted(first, key=lambda load: first[load])


def _read(
    path: Path, kind: str, encoding: str | None, siblings: list[Path], max_depth: int = 64
) -> Staged:
    if kind == "fhir":
        return read_fhir(path, context=[f for f in siblings if f != path], max_depth=max_depth)
    suffix = [s.lower() for s in path.suffixes if s.lower() != ".gz"][-1:]
    if suffix in ([".parquet"], [".pq"]):
        return read_parquet(path)
    if suffix in ([".jsonl"], [".ndjson"], [".json"]):
        return read_jsonl(path, encoding, max_depth=max_depth)
    return read_csv(path, encoding)


def _guess_table(columns: list[str]) -> str | None:
    """The canonical table whose required columns a file's header has, best covered."""
    best, score = None, 0.0
    for name, spec in TABLES.items():
        if not set(spec.required) <= set(columns):
            continue
        s = len(set(spec.names) & set(columns)) / len(spec.names)
        if s > score:
            best, score = name, s
    return best


def _ingest_file(
    con,
    path: Path,
    kind: str | None,
    *,
    settings: Settings,
    mapping: Mapping | None,
    encoding: str | None,
    ratio: float,
    known: pa.Array,
    siblings: list[Path],
    replaces: list[str],
) -> tuple[FileResult, pa.Array | None]:
    source = str(path)
    if kind is None:
        return FileResult(
            source,
            "skipped",
            "unknown kind of file (not CSV, Parquet, JSON Lines or FHIR); name its kind to load it",
            argument="kind",
        ), None
    started = dt.datetime.now(dt.UTC)
    content_hash = _content_hash(path)
    previous = None if replaces else _already_loaded(con, content_hash)
    if previous:
        return _seen(source, previous), None
    try:
        staged = _read(path, kind, encoding, siblings, settings.ingest.max_depth)
    except InputError as exc:
        load_id = uuid.uuid4().hex[:16]
        apply_batch(
            con,
            Batch(
                load_id=load_id,
                source=source,
                content_hash=content_hash,
                started_at=started,
                status="unreadable",
                message=str(exc),
                path=str(path.resolve()),
            ),
        )
        return FileResult(source, "unreadable", str(exc), load_id=load_id, argument=exc.field), None
    result = FileResult(source, "loaded", warnings=list(staged.warnings))
    origins: list[tuple[str, str]] = []  # the quarantined records a repaired export holds
    # the file's own header (CSV, JSON Lines), to find identifier fields in raw rejected lines
    header = (
        [c for c in staged.tables["?"].column_names if c[0] != "_"]
        if "?" in staged.tables
        else None
    )
    if "?" in staged.tables:
        parts, origins = split_repair(staged.tables.pop("?"), staged.first_row)
        table = parts.pop(None, None)
        if table is not None:
            if mapping:
                table = mapping.apply(table)
            target = kind if kind not in ("?", "?folder") else _guess_table(table.column_names)
            if target is None and kind == "?folder":
                return FileResult(
                    source,
                    "skipped",
                    "columns match no canonical table "
                    f"({', '.join(table.column_names[:8])}); name its kind to load it",
                    argument="kind",
                ), None
            if target is None:
                return FileResult(
                    source,
                    "unreadable",
                    "cannot tell which table this file holds from its name or "
                    f"columns ({', '.join(table.column_names[:8])}); name the "
                    "file after the table (orders.csv) or name its kind",
                    argument="kind",
                ), None
            parts[target] = table
        staged.tables.update(parts)
        first = next(iter(staged.tables), None)
        staged.rejects = [replace(r, table=r.table or first) for r in staged.rejects]
    load_id = uuid.uuid4().hex[:16]
    batch = Batch(
        load_id=load_id,
        source=source,
        content_hash=content_hash,
        started_at=started,
        replaces=replaces,
        path=str(path.resolve()),
    )
    rejects: list[Reject] = list(staged.rejects)
    private: dict[str, str] = dict(mapping.identifiers) if mapping else {}
    canonical: set[str] = set()
    patients = None
    for table, rows in staged.tables.items():
        spec = TABLES[table]
        missing = [c for c in spec.required if c not in rows.column_names]
        if missing:
            result.hint = {
                "key": "hint_mapping",
                "file": source,
                "table": table,
                "columns": ", ".join(missing),
            }
            batch.status = "rejected"
            batch.message = (
                f"{table}: missing required column(s) {', '.join(missing)}; "
                f"found {', '.join(c for c in rows.column_names if c[0] != '_')}. "
                "Rename the columns or map them"
            )
            batch.parts.append(TablePart(table=table, rows=rows.slice(0, 0), rows_in=len(rows)))
            continue
        own = None
        if "patients" in staged.tables and "user_id" in staged.tables["patients"].column_names:
            own = staged.tables["patients"]["user_id"].combine_chunks().cast(pa.string())
        users = pa.concat_arrays([known, own]) if own is not None else known
        found = find_identifiers(rows, spec.names, mapping.identifiers if mapping else None)
        private |= found
        canonical |= set(spec.names)
        v = validate(
            rows,
            spec,
            source=source,
            settings=settings.ingest,
            timezone=settings.timezone,
            known_users=users,
            first_row=staged.first_row,
            identifiers=found,
        )
        rejects.extend(v.rejects)
        if v.extra_columns:
            result.warnings.append(
                f"{table}: columns not in the canonical table were kept in "
                f"ingest_extras: {', '.join(v.extra_columns)}"
            )
        sealed = protect(
            v.identifiers,
            found,
            contacts_key(
                settings.privacy.contacts_key.get_secret_value()
                if settings.privacy.contacts_key
                else None
            )
            if found
            else None,
        )
        if sealed.warning:
            result.warnings.append(f"{table}: {sealed.warning}")
        batch.parts.append(
            TablePart(
                table=table,
                rows=v.good,
                rows_in=v.rows_in,
                duplicates_in_batch=v.duplicates,
                quarantined=len(v.rejects),
                flags=v.flags,
                extras=v.extras,
                contacts=sealed.rows,
            )
        )
        if table == "patients":
            patients = v.good["user_id"].combine_chunks()
    for r in staged.rejects:  # rejects from the door count against the table they were for
        for part in batch.parts:
            if r.table in (None, part.table):
                part.quarantined += 1
                break
    total = max(staged.records, sum(p.rows_in for p in batch.parts), 1)
    if batch.status != "rejected" and len(rejects) / total > ratio:
        batch.status = "rejected"
        batch.message = (
            f"{len(rejects)} of {total} records are bad "
            f"({len(rejects) / total:.1%} > {ratio:.0%}); nothing of this file "
            "was loaded"
        )
        result.hint = {"key": "hint_rejected", "file": source, "load": load_id}
    elif batch.status == "loaded" and rejects:
        result.hint = {"key": "hint_quarantined", "file": source, "load": load_id}
    batch.quarantine = _quarantine_rows(_masked(rejects, header, private, canonical), load_id)
    apply_batch(con, batch)
    if batch.status == "already_loaded":  # another process loaded it while this one read it
        return _seen(source, batch.previous or ""), None
    if batch.status == "loaded":
        resolve(con, load_id, source, origins)
    result.status = batch.status
    result.message = batch.message
    result.load_id = load_id
    if batch.status == "loaded" and replaces:
        result.replaces = replaces
        result.removed = dict(batch.removed)
        per_table = ", ".join(f"{t} {n}" for t, n in sorted(batch.removed.items()))
        result.warnings.append(
            f"replaces load(s) {', '.join(replaces)}: "
            f"{sum(batch.removed.values())} row(s) removed first"
            + (f" ({per_table})" if per_table else "")
        )
    for part in batch.parts:
        result.tables[part.table] = {
            "loaded": part.loaded,
            "duplicates": part.duplicates,
            "quarantined": part.quarantined,
            "flagged": 0 if part.flags is None or batch.status != "loaded" else len(part.flags),
        }
    if staged.skipped:
        result.warnings.append(
            "not mapped: " + ", ".join(f"{k} × {v}" for k, v in sorted(staged.skipped.items()))
        )
    return result, patients if batch.status == "loaded" else None


def _seen(source: str, previous: str) -> FileResult:
    return FileResult(
        source,
        "already_loaded",
        f"same content already loaded (load {previous}); nothing to do",
        load_id=previous,
        hint={"key": "hint_replace", "file": source},
    )


def _masked(
    rejects: list[Reject], header: list[str] | None, private: dict[str, str], canonical: set[str]
) -> list[Reject]:
    """Rejects whose raw text has the file's identifier fields and e-mails masked
    (`ingest.raw_text`): by the mapping, by header, or as recognised in the loaded columns."""
    private = private | identifier_fields(header or [], private, canonical)
    return [
        replace(r, raw=mask_raw(r.raw, header=header, identifiers=private, canonical=canonical))
        for r in rejects
    ]


def _quarantine_rows(rejects: list[Reject], load_id: str) -> pa.Table:
    now = dt.datetime.now(dt.UTC)
    return pa.Table.from_pylist(
        [
            {
                "load_id": load_id,
                "source": r.source,
                "table_name": r.table,
                "record": r.record,
                "field": r.field,
                "reason": r.reason,
                "raw": r.raw,
                "quarantined_at": now,
            }
            for r in rejects
        ],
        schema=pa.schema(
            [
                ("load_id", pa.string()),
                ("source", pa.string()),
                ("table_name", pa.string()),
                ("record", pa.string()),
                ("field", pa.string()),
                ("reason", pa.string()),
                ("raw", pa.string()),
                ("quarantined_at", pa.timestamp("us", tz="UTC")),
            ]
        ),
    )
