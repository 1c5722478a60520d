"""`careops report --as-of D [--out PATH] [--lang zh|en] [--by LAYER]` — write the HTML report."""

from __future__ import annotations

from typing import Annotated

import typer

from careops.asof import parse_as_of
from careops.cliutil import WarehouseOpt, ops, out, safe
from careops.metrics.cli import parse_lang, warn_if_stale
from careops.report.build import build_report
from careops.report.render import write_report


def report_command(
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, default today")] = None,
    out_path: Annotated[str | None, typer.Option("--out", help="HTML file to write")] = None,
    lang: Annotated[str | None, typer.Option("--lang", help="zh (default) or en")] = None,
    by: Annotated[str, typer.Option("--by", help="layer of the breakdown charts")] = "channel",
    warehouse: WarehouseOpt = None,
) -> None:
    """运营报告 Report: the main metrics as one HTML file with charts (works offline)."""
    language = parse_lang(lang)
    day = parse_as_of(as_of)
    with ops(warehouse).warehouse(read_only=True) as con:
        if as_of is None:
            warn_if_stale(con, day, language)
        data = build_report(con, day, by=by)
    path = write_report(data, out_path or f"careops-data/reports/report-{day}.html", language)
    out.print(f"报告已写入 / report written: {safe(path)}")
