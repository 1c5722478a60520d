"""The `careops` command: a thin shell that parses arguments, calls domain functions, prints."""

from __future__ import annotations

import sys

import typer
from rich.console import Console

from careops import __version__
from careops.errors import CareOpsError
from careops.experiments.cli import app as experiment_app

app = typer.Typer(
    name="careops",
    help="CareOps 互联网医院患者运营平台 — ingest, tag, layer, reach and measure patients.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
err = Console(stderr=True)
app.add_typer(experiment_app, name="experiment")


@app.callback()
def _root() -> None:
    """CareOps 互联网医院患者运营平台."""


@app.command()
def version() -> None:
    """Print the CareOps version."""
    print(__version__)


from careops.ingest import cli as _ingest  # noqa: E402
from careops.metrics.cli import metrics_command  # noqa: E402
from careops.report.cli import report_command  # noqa: E402

app.command()(_ingest.init)
app.command()(_ingest.ingest)
app.command()(_ingest.tables)
app.command()(_ingest.sql)
app.add_typer(_ingest.quarantine_app, name="quarantine")
app.command("metrics")(metrics_command)
app.command("report")(report_command)


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        err.print(f"[bold red]错误 / error:[/] {exc}", soft_wrap=True, highlight=False)
        sys.exit(exc.exit_code)
