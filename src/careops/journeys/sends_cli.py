"""`careops sends export`: the send log as CSV. Thin shell over careops.journeys.sends."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careops.cliutil import LangOpt, StateOpt, WarehouseOpt, lang_of, ops, out, safe
from careops.labels import label

sends_app = typer.Typer(
    help="发送记录 / The send log: every decided send with its status and reason.",
    no_args_is_help=True,
)


@sends_app.command("export")
def export_cmd(
    out_file: Annotated[Path, typer.Option("--out", help="CSV 文件 / CSV file")],
    journey: Annotated[str | None, typer.Option("--journey", help="只导出该旅程")] = None,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """导出发送记录 CSV / Export the send log (one row per decided send, UTC times)."""
    from careops.journeys.sends import export

    n = export(ops(warehouse, state), out_file, journey)
    out.print(f"{label('sends.exported', lang_of(lang))}: {n} → {safe(out_file)}")
