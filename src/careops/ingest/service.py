"""Ingestion as a service: load files, list and export quarantined records — with the audit.

The CLI (`careops ingest`, `careops quarantine`), the API and the demo call these functions, so
every way in leaves the same trail: the `_loads` ledger row is written in each load's own
warehouse transaction (`warehouse.load.apply_batch`), and one audit entry per file goes to the
state store as soon as that file is done (who, which file, what happened, which loads it
replaced and what that removed). A quarantine export is audited too: patient-level rows leave
the system (who, which filter, how many rows, where to).

On DuckDB one process writes a warehouse file at a time; `IngestOptions.wait_seconds` keeps
retrying the open until then instead of answering `WarehouseBusy` at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from careops.errors import InvalidInput, WarehouseBusy
from careops.ingest.pipeline import FileResult, IngestReport, Progress

if TYPE_CHECKING:
    import datetime as dt

    from ibis.backends import BaseBackend

    from careops.service import Ops

__all__ = [
    "ExportResult",
    "IngestOptions",
    "IngestReport",
    "QuarantineRecord",
    "export_quarantine",
    "ingest_files",
    "list_quarantine",
    "writable_warehouse",
]


@dataclass(frozen=True)
class IngestOptions:
    """How to read and load the files (the CLI's options, by meaning)."""

    kind: str = "auto"  # auto | fhir | a canonical table
    mapping: Path | None = None  # a mapping file: column names and values onto the canonical
    encoding: str | None = None  # None: detect (UTF-8, GBK/GB18030)
    max_bad_ratio: float | None = None  # None: the `ingest.max_bad_ratio` setting
    replace: bool = False  # each file corrects its earlier load
    wait_seconds: float = 0.0  # DuckDB: wait this long for another writer to finish


def ingest_files(
    ops: Ops,
    paths: Iterable[Path],
    options: IngestOptions | None = None,
    progress: Progress | None = None,
) -> IngestReport:
    """Load every file under `paths` into the warehouse (tables created or brought up to date
    first) and audit each file as it is done."""
    from careops.ingest.mapping import Mapping
    from careops.ingest.pipeline import ingest_paths
    from careops.warehouse import create_tables

    options = options or IngestOptions()
    ratio = options.max_bad_ratio
    if ratio is not None and not 0 <= ratio <= 1:
        raise InvalidInput(
            f"坏行比例上限应在 0 到 1 之间 / the bad-row ratio must be between 0 "
            f"and 1 (e.g. 0.05), not {ratio}"
        )
    if options.wait_seconds < 0:
        raise InvalidInput("等待时间不能为负 / the time to wait cannot be negative")
    spec = Mapping.load(options.mapping) if options.mapping else None

    def audit(result: FileResult) -> None:
        ops.audit(
            "ingest",
            target=result.source,
            detail={
                "status": result.status,
                "load_id": result.load_id,
                "tables": result.tables,
                **(
                    {"replaces": result.replaces, "removed": result.removed}
                    if result.replaces
                    else {}
                ),
                **(
                    {"reason": result.message}
                    if result.status in ("unreadable", "rejected")
                    else {}
                ),
            },
        )

    with writable_warehouse(ops, options.wait_seconds) as con:
        create_tables(con)
        report = ingest_paths(
            con,
            paths,
            settings=ops.settings,
            kind=options.kind,
            mapping=spec,
            encoding=options.encoding,
            max_bad_ratio=ratio,
            progress=progress,
            replace=options.replace,
            on_file=audit,
        )
        _reading_alerts(ops, con, report)
        return report


def _reading_alerts(ops: Ops, con: BaseBackend, report: IngestReport) -> None:
    """Abnormal-reading alerts on the observations the loads brought (careops.care.alerts)."""
    from careops.care.alerts_service import on_loads

    loads = [
        f.load_id
        for f in report.files
        if f.load_id and f.status == "loaded" and f.tables.get("observations")
    ]
    on_loads(ops, con, loads)


@contextmanager
def writable_warehouse(
    ops: Ops, wait_seconds: float = 0.0, sleep: Callable[[float], None] = time.sleep
) -> Iterator[BaseBackend]:
    """The warehouse opened for writing, retrying while another process holds it (DuckDB) for
    up to `wait_seconds`; then `WarehouseBusy` saying how long it waited."""
    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            cm = ops.warehouse()
            con = cm.__enter__()
            break
        except WarehouseBusy as exc:
            left = deadline - time.monotonic()
            if left <= 0:
                if wait_seconds:
                    raise WarehouseBusy(f"{exc} (已等待 / waited {wait_seconds:g} s)") from None
                raise
            sleep(min(0.5, left))
    try:
        yield con
    except BaseException as exc:
        if not cm.__exit__(type(exc), exc, exc.__traceback__):
            raise
    else:
        cm.__exit__(None, None, None)


@dataclass(frozen=True)
class QuarantineRecord:
    """One quarantined record: where it came from, why, and whether a later load fixed it."""

    load_id: str
    source: str
    table_name: str | None
    record: str
    field: str | None
    reason: str
    raw: str | None
    quarantined_at: dt.datetime
    status: Literal["open", "resolved"]
    resolved_by: str | None


def list_quarantine(
    ops: Ops,
    load_id: str | None = None,
    table: str | None = None,
    limit: int | None = 50,
    *,
    include_resolved: bool = False,
) -> list[QuarantineRecord]:
    """Quarantined records, newest first: open ones, or all with `include_resolved`."""
    from careops.ingest.quarantine import read_quarantine

    with ops.warehouse(read_only=True) as con:
        rows = read_quarantine(con, load_id, table, limit, include_resolved=include_resolved)
    return [QuarantineRecord(**r) for r in rows.to_pylist()]


@dataclass(frozen=True)
class ExportResult:
    """What a quarantine export wrote."""

    path: Path
    rows: int


def export_quarantine(
    ops: Ops,
    path: Path,
    load_id: str | None = None,
    table: str | None = None,
    *,
    include_resolved: bool = False,
    headers: Literal["zh", "en"] = "zh",
) -> ExportResult:
    """Write quarantined records with their own columns to `path` (.csv or .parquet) for
    repair, the quarantine columns headed in `headers`' language; audited, since patient-level
    rows leave the system."""
    from careops.ingest.quarantine import export_rows, read_quarantine
    from careops.io import write_table

    path = Path(path)
    with ops.warehouse(read_only=True) as con:
        data = read_quarantine(con, load_id, table, include_resolved=include_resolved)
    write_table(export_rows(data, headers), path)
    ops.audit(
        "quarantine_export",
        target=str(path.resolve()),
        detail={
            "filter": {"load_id": load_id, "table": table, "include_resolved": include_resolved},
            "rows": len(data),
            "path": str(path.resolve()),
        },
    )
    return ExportResult(path=path, rows=len(data))
