"""The `careops` command: a thin shell that parses arguments, calls domain functions, prints."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from careops import __version__
from careops.errors import CareOpsError

app = typer.Typer(
    name="careops",
    help="CareOps 互联网医院患者运营平台 — ingest, tag, layer, reach and measure patients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)


@app.callback()
def _root() -> None:
    """CareOps 互联网医院患者运营平台."""


@app.command()
def version() -> None:
    """Print the CareOps version."""
    print(__version__)


def _register_commands() -> None:
    from careops.metrics.cli import metrics_command
    from careops.report.cli import report_command

    app.command("metrics")(metrics_command)
    app.command("report")(report_command)


_register_commands()


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        err.print(f"[bold red]错误 / error:[/] {exc}")
        sys.exit(exc.exit_code)
