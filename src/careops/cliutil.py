"""Options and output helpers shared by every CLI command (kept apart so cli.py stays thin)."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from careops.config import Lang, get_settings

out = Console()
err = Console(stderr=True)

WarehouseOpt = Annotated[str | None, typer.Option(
    "--warehouse", "-w", help="仓库 URL / warehouse URL: duckdb:///path, postgresql://…, "
    "spark://local (默认读取配置 CAREOPS_WAREHOUSE)")]
LangOpt = Annotated[Lang | None, typer.Option("--lang", help="界面语言 zh|en (default zh)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="机器可读 JSON 输出 / JSON output")]


def open_warehouse(url: str | None, *, read_only: bool = False):
    """Connect to the warehouse given on the command line, else the one in the settings.

    Commands that only read pass `read_only=True`: a missing warehouse is then an error, not a
    new empty file.
    """
    from careops.warehouse import connect

    return connect(url, read_only=read_only)


def lang_of(lang: Lang | None) -> Lang:
    return lang or get_settings().lang


def print_json(data: Any) -> None:
    """Print JSON for machines (UTF-8, Chinese kept readable)."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def rich_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    for c in columns:
        table.add_column(c)
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row])
    return table
