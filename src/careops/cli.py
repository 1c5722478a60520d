"""The `careops` command: a thin shell that parses arguments, calls domain functions, prints.

Each domain keeps its commands in its own `cli.py`; this module only names them. A domain's
module is imported when its command runs (not at start-up), so `careops version` or
`careops tags show` do not pay for loading every domain.
"""

from __future__ import annotations

import difflib
import importlib
import sys
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from typer.core import TyperGroup

from careops import __version__
from careops.errors import CareOpsError

if TYPE_CHECKING:  # Typer vendors Click
    from typer._click import Command, Context

DATA_IN, TAGS, MEASURE = "数据接入 / Data in", "标签与分层 / Tags & layers", "度量 / Measurement"
TOOLS = "工具 / Tools"

# command name -> ("module:attribute", help panel); the attribute is a Typer app or a function
LAZY: dict[str, tuple[str, str]] = {
    "init": ("careops.ingest.cli:init", DATA_IN),
    "ingest": ("careops.ingest.cli:ingest", DATA_IN),
    "tables": ("careops.ingest.cli:tables", DATA_IN),
    "sql": ("careops.ingest.cli:sql", DATA_IN),
    "quarantine": ("careops.ingest.cli:quarantine_app", DATA_IN),
    "simulate": ("careops.sim.cli:simulate_command", DATA_IN),
    "demo": ("careops.demo:demo", DATA_IN),
    "tags": ("careops.tags.cli:tags_app", TAGS),
    "layers": ("careops.tags.cli:layers_app", TAGS),
    "segment": ("careops.segments.cli:segment_app", TAGS),
    "cluster": ("careops.tags.cli:cluster_command", TAGS),
    "experiment": ("careops.experiments.cli:app", MEASURE),
    "metrics": ("careops.metrics.cli:metrics_command", MEASURE),
    "report": ("careops.report.cli:report_command", MEASURE),
}


def load_command(name: str) -> Command:
    """Import the module behind a lazy command and build its Click command."""
    target, panel = LAZY[name]
    module, attribute = target.split(":")
    obj = getattr(importlib.import_module(module), attribute)
    if not isinstance(obj, typer.Typer):
        single = typer.Typer()
        single.command(name)(obj)
        obj = single
    command = typer.main.get_command(obj)
    command.name = name
    command.rich_help_panel = panel  # type: ignore[attr-defined]
    return command


class _LazyGroup(TyperGroup):
    """The root group: commands defined here, plus the domains' commands loaded on demand."""

    def list_commands(self, ctx: Context) -> list[str]:
        return [*LAZY, *super().list_commands(ctx)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple:
        name = args[0] if args else ""
        if name and not name.startswith("-") and name not in self.list_commands(ctx):
            close = difflib.get_close_matches(name, self.list_commands(ctx), n=1)
            hint = f" 是否想用 / did you mean {close[0]!r}?" if close else ""
            ctx.fail(f"没有这个命令 / no such command {name!r}.{hint} (careops --help)")
        return super().resolve_command(ctx, args)


app = typer.Typer(
    name="careops",
    cls=_LazyGroup,
    help="CareOps 互联网医院患者运营平台 — ingest, tag, layer, reach and measure patients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """CareOps 互联网医院患者运营平台."""


@app.command(rich_help_panel=TOOLS)
def version() -> None:
    """Print the CareOps version."""
    print(__version__)


@app.command(rich_help_panel=TOOLS,
             context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context, name: str = typer.Argument(
        "all", help="ingest | fhir | simulate | tags | metrics | all")) -> None:
    """运行基准测试并保存 JSON 结果 / Run a benchmark from benchmarks/ and save its JSON."""
    from careops import bench as runner

    runner.run(name, list(ctx.args))


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        _fail(str(exc), exc.exit_code)
    except Exception as exc:
        if type(exc).__name__ != "TableNotFound":  # ibis' error, without importing ibis here
            raise
        _fail(f"the warehouse has no table {exc.args[0] if exc.args else ''!s}: check --warehouse, "
              "or create and fill it with `careops init` and `careops ingest`", 2)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]错误 / error:[/] {message}", soft_wrap=True, highlight=False)
    sys.exit(code)
