"""The `careops` command: a thin shell that parses arguments, calls domain functions, prints.

Each domain keeps its commands in its own `cli.py`; this module only mounts them.
"""

from __future__ import annotations

import sys

import typer
from ibis.common.exceptions import TableNotFound
from rich.console import Console

from careops import __version__
from careops.demo import demo
from careops.errors import CareOpsError
from careops.experiments.cli import app as experiment_app
from careops.ingest import cli as ingest_cli
from careops.metrics.cli import metrics_command
from careops.report.cli import report_command
from careops.segments.cli import segment_app
from careops.sim.cli import simulate_command
from careops.tags.cli import cluster_command, layers_app, tags_app

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


@app.command(context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def bench(ctx: typer.Context, name: str = typer.Argument(
        "all", help="ingest | fhir | simulate | tags | metrics | all")) -> None:
    """运行基准测试并保存 JSON 结果 / Run a benchmark from benchmarks/ and save its JSON."""
    from careops import bench as runner

    runner.run(name, list(ctx.args))


# data in
app.command()(ingest_cli.init)
app.command()(ingest_cli.ingest)
app.command()(ingest_cli.tables)
app.command()(ingest_cli.sql)
app.add_typer(ingest_cli.quarantine_app, name="quarantine")
app.command("simulate")(simulate_command)
app.command()(demo)
# tags, layers, segments
app.add_typer(tags_app, name="tags")
app.add_typer(layers_app, name="layers")
app.add_typer(segment_app, name="segment")
app.command("cluster")(cluster_command)
# measurement
app.add_typer(experiment_app, name="experiment")
app.command("metrics")(metrics_command)
app.command("report")(report_command)


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        _fail(str(exc), exc.exit_code)
    except TableNotFound as exc:
        _fail(f"the warehouse has no table {exc.args[0] if exc.args else ''!s}: check --warehouse, "
              "or create and fill it with `careops init` and `careops ingest`", 2)


def _fail(message: str, code: int) -> None:
    err.print(f"[bold red]错误 / error:[/] {message}", soft_wrap=True, highlight=False)
    sys.exit(code)
