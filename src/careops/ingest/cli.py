"""CLI for the ingestion doors: ingest, quarantine (init, tables, sql: careops.warehouse.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from careops.cliutil import (
    JsonOpt,
    LangOpt,
    StateOpt,
    WarehouseOpt,
    err,
    lang_of,
    ops,
    out,
    print_json,
    rich_table,
    safe,
    with_flag,
)
from careops.errors import CareOpsError
from careops.i18n import label, translate


def ingest(
    paths: Annotated[list[Path], typer.Argument(help="文件或目录 / files or folders")],
    kind: Annotated[str, typer.Option(help="auto|fhir|patients|events|orders|…")] = "auto",
    mapping: Annotated[Path | None, typer.Option(help="列名/取值映射 YAML / mapping file")] = None,
    encoding: Annotated[str | None, typer.Option(help="utf-8, gbk, gb18030 (默认自动识别)")] = None,
    max_bad_ratio: Annotated[
        float | None, typer.Option(help="坏行比例上限, 超过则整个文件拒绝 (default 0.05)")
    ] = None,
    replace: Annotated[
        bool,
        typer.Option(
            "--replace",
            help="更正之前导入的同一文件: 先整批删除上次导入的行再导入 / correct an "
            "earlier load of the same file (same path, same content or same file name): the rows "
            "it loaded are removed, then the file is loaded again",
        ),
    ] = False,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            help="DuckDB 仓库正被另一进程写入时最多等待的秒数 / seconds to wait for "
            "another process writing the DuckDB warehouse (default 0: answer at once)",
        ),
    ] = 0.0,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
    lang: LangOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """导入 CSV / Parquet / JSON Lines / FHIR R4 / Import files into the warehouse.

    Exit codes: 0 loaded (possibly with quarantined rows), 1 a file was rejected, 2 unreadable
    input or usage error, 3 the warehouse is busy (another process writes it; see --wait).
    """
    from careops.ingest.service import IngestOptions, ingest_files

    lg = lang_of(lang)
    if max_bad_ratio is not None and not 0 <= max_bad_ratio <= 1:
        raise CareOpsError(
            "--max-bad-ratio 应在 0 到 1 之间 / --max-bad-ratio must be between 0 and 1 (e.g. 0.05)"
        )
    if wait < 0:
        raise CareOpsError("--wait 不能为负 / --wait cannot be negative")
    options = IngestOptions(
        kind=kind,
        mapping=mapping,
        encoding=encoding,
        max_bad_ratio=max_bad_ratio,
        replace=replace,
        wait_seconds=wait,
    )
    context = ops(warehouse, state)
    try:
        with Progress(
            TextColumn("[progress.description]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=err,
            transient=True,
            disable=json_out,
        ) as bar:
            task = bar.add_task("导入 / ingesting", total=None)

            def progress(source: str, n: int, total: int) -> None:
                bar.update(task, total=total, completed=n - 1, description=safe(Path(source).name))

            report = ingest_files(context, paths, options, progress=progress)
    finally:
        context.close()
    if json_out:
        print_json(report.to_json())
    else:
        print_report(report, lg)
    raise typer.Exit(report.exit_code)


def print_report(report, lg) -> None:
    """The ingestion summary as tables: per table counts, files needing attention, next steps."""
    from careops.ingest.pipeline import message as render

    tables = report.tables
    if tables:
        out.print(
            rich_table(
                label("ingest_title", lg),
                [label(k, lg) for k in ("table", "loaded", "duplicates", "quarantined", "flagged")],
                [
                    [t, c["loaded"], c["duplicates"], c["quarantined"], c["flagged"]]
                    for t, c in sorted(tables.items())
                ],
            )
        )
    rows = []
    for f in report.files:
        if f.status == "loaded" and not f.warnings:
            continue
        message = f.message or "; ".join(f.warnings)
        text = with_flag(translate(message, lg), f.argument)
        rows.append([Path(f.source).name, label(f.status + "_status", lg), text])
    if rows:
        out.print(
            rich_table(
                label("files_title", lg),
                [label("source", lg), label("status", lg), label("reason", lg)],
                rows,
            )
        )
    if report.removed:  # --replace: what the earlier loads had and is gone now
        removed = ", ".join(f"{t} {n:,}" for t, n in sorted(report.removed.items()))
        out.print(
            ("已删除被替换批次的行 / " if lg == "zh" else "")
            + f"rows of the replaced load(s) removed: {safe(removed)}"
        )
    for note in report.notes:
        out.print(f"{label('warning', lg)}: {render(note, lg)}")
    for hint in dict.fromkeys(render(f.hint, lg) for f in report.files if f.hint):
        out.print(f"{label('next_step', lg)}: {hint}")


quarantine_app = typer.Typer(
    help="隔离区: 查看和导出坏记录 / Quarantined records", no_args_is_help=True
)


AllOpt = Annotated[
    bool, typer.Option("--all", help="也包括已修复的记录 / include records a later load resolved")
]


@quarantine_app.command("list")
def quarantine_list(
    load: Annotated[str | None, typer.Option("--load", help="批次 / load id")] = None,
    table: Annotated[str | None, typer.Option(help="表 / table")] = None,
    limit: Annotated[int, typer.Option(help="最多显示 / at most")] = 50,
    all_: AllOpt = False,
    warehouse: WarehouseOpt = None,
    lang: LangOpt = None,
    json_out: JsonOpt = False,
) -> None:
    """列出待修复的隔离记录 / List quarantined records (open ones; --all with resolved)."""
    from dataclasses import asdict

    from careops.ingest.service import list_quarantine

    lg = lang_of(lang)
    rows = list_quarantine(ops(warehouse), load, table, limit, include_resolved=all_)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    out.print(
        rich_table(
            label("quarantine_title", lg),
            [
                label(k, lg)
                for k in ("source", "record", "table", "field", "reason", "load_id", "status")
            ],
            [
                [
                    Path(r.source).name,
                    translate(r.record, lg),
                    r.table_name,
                    r.field,
                    translate(r.reason, lg),
                    r.load_id,
                    label(r.status + "_record", lg),
                ]
                for r in rows
            ],
        )
    )


@quarantine_app.command("export")
def quarantine_export(
    path: Annotated[Path, typer.Argument(help="输出 CSV 或 Parquet / output .csv or .parquet")],
    load: Annotated[str | None, typer.Option("--load", help="批次 / load id")] = None,
    table: Annotated[str | None, typer.Option(help="表 / table")] = None,
    all_: AllOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
    lang: LangOpt = None,
) -> None:
    """导出隔离记录(原始列), 修复后可再导入 / Export quarantined records with their own columns;
    repair them and `careops ingest` the file. The export is recorded in the audit trail."""
    from careops.ingest.service import export_quarantine

    lg = lang_of(lang)
    context = ops(warehouse, state)
    try:
        result = export_quarantine(context, path, load, table, include_resolved=all_, headers=lg)
    finally:
        context.close()
    out.print(label("exported", lg).format(n=result.rows, path=safe(result.path)))
