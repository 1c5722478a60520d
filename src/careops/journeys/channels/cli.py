"""`careops channels check`: probe the configured channels (thin shell over `check.py`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

import typer
from rich.console import Console

from careops.cliutil import JsonOpt, LangOpt, lang_of, print_json, rich_table

app = typer.Typer(
    help="触达渠道 Channels: probe the configured providers without sending to patients.",
    no_args_is_help=True,
)
out = Console()


@app.command("check")
def check(
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", help="只检查此渠道 / only this channel (email|sms|wechat|app_push)"
        ),
    ] = None,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """探测已配置的渠道 / Probe the configured channels (connect, authenticate, send nothing)."""
    from careops.config import get_settings
    from careops.journeys.channels.check import check_channels

    results = check_channels(get_settings(), channel)
    rows = [{k: v for k, v in asdict(r).items() if k != "started"} for r in results]
    zh = lang_of(lang) == "zh"
    if json_out:
        print_json(rows)
    elif not rows:
        out.print("没有已配置的渠道 / no channel is configured (docs/channels.md)")
    else:
        headers = (
            ["渠道", "服务商", "结果", "耗时 ms", "说明"]
            if zh
            else ["channel", "provider", "result", "ms", "detail"]
        )
        ok, bad = ("正常", "失败") if zh else ("ok", "FAILED")
        cells = [
            [r["channel"], r["provider"], ok if r["ok"] else bad, r["latency_ms"], r["detail"]]
            for r in rows
        ]
        out.print(rich_table("渠道探测 / Channel check", headers, cells))
    if any(not r.ok for r in results):
        raise typer.Exit(1)
