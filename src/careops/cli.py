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


def _register_domains() -> None:
    from careops.segments.cli import segment_app
    from careops.tags.cli import cluster_command, layers_app, tags_app

    app.add_typer(tags_app, name="tags")
    app.add_typer(layers_app, name="layers")
    app.add_typer(segment_app, name="segment")
    app.command("cluster")(cluster_command)


_register_domains()


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        err.print(f"[bold red]错误 / error:[/] {exc}")
        sys.exit(exc.exit_code)
