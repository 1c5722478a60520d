"""Options and output helpers shared by every CLI command (kept apart so cli.py stays thin)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from careops.config import Lang, get_settings

if TYPE_CHECKING:
    from careops.service import Ops

out = Console()
err = Console(stderr=True)

WarehouseOpt = Annotated[
    str | None,
    typer.Option(
        "--warehouse",
        "-w",
        help="仓库 URL / warehouse URL: duckdb:///path, postgresql://…, "
        "spark://local (默认读取配置 CAREOPS_WAREHOUSE)",
    ),
]
StateOpt = Annotated[
    str | None,
    typer.Option(
        "--state",
        help="状态库 URL / state store: sqlite:///path.db, postgresql://… "
        "(默认在仓库旁, 或读取配置 CAREOPS_STATE / default: beside the warehouse)",
    ),
]
LangOpt = Annotated[Lang | None, typer.Option("--lang", help="界面语言 zh|en (default zh)")]
JsonOpt = Annotated[bool, typer.Option("--json", help="机器可读 JSON 输出 / JSON output")]
StoreOpt = Annotated[
    bool,
    typer.Option(
        "--store", help="存为当日智能标签 (分层/人群/旅程可用) / store as smart tags of the day"
    ),
]


def ops(warehouse: str | None = None, state: str | None = None) -> Ops:
    """The service context of one CLI command: the warehouse and state store given on the
    command line, else the settings; the OS account as the actor."""
    from careops.service import Ops

    return Ops.open(warehouse, state)


# ANSI/OSC escape sequences, then any other C0/C1 control character and the bidirectional
# overrides that can make a value read backwards (Trojan-source style spoofing)
_ESCAPES = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-_]")
_CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def plain(value: Any) -> str:
    """A data value made safe for a terminal: escape sequences removed, other control
    characters shown as `\\xNN` / `\\uNNNN` (never interpreted)."""
    text = _ESCAPES.sub("", "" if value is None else str(value))
    return _CONTROLS.sub(lambda m: m[0].encode("unicode_escape").decode("ascii"), text)


def safe(value: Any) -> str:
    """A data value for Rich output: `plain`, and Rich markup in it escaped (`[/bold]`,
    `[link=…]` print as written)."""
    return escape(plain(value))


#: the flag that sets each field a domain error or result names (`CareOpsError.field`)
FLAGS: dict[str, str] = {
    "as_of": "--as-of",
    "period": "--from / --to",
    "limit": "--limit",
    "encoding": "--encoding",
    "kind": "--kind",
    "mapping": "--mapping",
    "replace": "--replace",
    "control": "--control",
    "segment": "--segment",
    "where": "--where",
    "warehouse": "--warehouse (-w)",
    "start": "--start",
    "days": "--days",
    "users": "--user / --users",
    "timeout": "--timeout",
    "calibration_end": "--calibration-end",
    "holdout_end": "--holdout-end",
    "unit": "--unit",
    "origin": "--origin",
    "segment_by": "--segment-by",
    "horizon_days": "--horizon-days",
    "discount_rate": "--discount-rate",
    "date_format": "--date-format",
    "departments": "--departments",
    "ranker": "--ranker",
    "folds": "--cv",
}


def with_flag(message: str, field: str | None) -> str:
    """`message` with the flag that changes `field` added, "… (--as-of)", unless it names the
    flag already (a message of the domain names the field, never the flag)."""
    flag = FLAGS.get(field or "")
    if not flag or flag in message:
        return message
    return f"{message} ({flag})"


def error_text(exc: BaseException) -> str:
    """What the CLI prints for a CareOps error: its message and the flag to change."""
    return with_flag(str(exc), getattr(exc, "field", None))


def lang_of(lang: Lang | None) -> Lang:
    return lang or get_settings().lang


def print_json(data: Any) -> None:
    """Print JSON for machines (UTF-8, Chinese kept readable)."""
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def rich_table(title: str, columns: list[str], rows: list[list[Any]]) -> Table:
    """A table of data values: every title, header and cell is `safe` (data never styles)."""
    table = Table(title=safe(title), title_justify="left")
    for c in columns:
        table.add_column(safe(c))
    for row in rows:
        table.add_row(*["" if v is None else safe(v) for v in row])
    return table


def check_table_out(path: Path | None) -> None:
    """Refuse an `--out` file that is neither .csv nor .parquet, before any work is done."""
    from careops.errors import InvalidInput

    if path is not None and path.suffix.lower() not in (".csv", ".parquet"):
        raise InvalidInput(
            f"--out {path.name[:60]!r}: 请用 .csv 或 .parquet / write .csv or .parquet"
        )
