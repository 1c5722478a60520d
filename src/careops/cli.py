"""The `careops` command: a thin shell that parses arguments, calls domain functions, prints.

Each domain keeps its commands in its own `cli.py`; this module only names them. A domain's
module is imported when its command runs (not at start-up), so `careops version` or
`careops tags show` do not pay for loading every domain.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from typer.core import TyperCommand, TyperGroup

from careops import __version__
from careops.cliutil import LangOpt
from careops.config import get_settings
from careops.errors import CareOpsError

if TYPE_CHECKING:  # Typer vendors Click
    from typer._click import Command, Context

DATA_IN, TAGS, MEASURE = "数据接入 / Data in", "标签与分层 / Tags & layers", "度量 / Measurement"
TOOLS = "工具 / Tools"
SERVICE = "服务 / Service"
MODELS = "模型 / Models"
CARE = "健康服务 / Care"

# command name -> ("module:attribute", help panel, one-line help for `careops --help`); the
# attribute is a Typer app or a function. The one-line help lets `careops --help` list every
# command without importing any domain (a test keeps it equal to the command's own help).
LAZY: dict[str, tuple[str, str, str]] = {
    "init": (
        "careops.warehouse.cli:init",
        DATA_IN,
        "创建仓库和状态库 / Create the warehouse tables and the state store.",
    ),
    "ingest": (
        "careops.ingest.cli:ingest",
        DATA_IN,
        "导入 CSV / Parquet / JSON Lines / FHIR R4 / Import files into the warehouse.",
    ),
    "tables": (
        "careops.warehouse.cli:tables",
        DATA_IN,
        "各表行数 / Row counts of the warehouse tables.",
    ),
    "sql": (
        "careops.warehouse.cli:sql",
        DATA_IN,
        "只读查询 / Run a read-only SQL query (SELECT/WITH only) for analysts.",
    ),
    "quarantine": (
        "careops.ingest.cli:quarantine_app",
        DATA_IN,
        "隔离区: 查看和导出坏记录 / Quarantined records",
    ),
    "simulate": (
        "careops.sim.cli:simulate_command",
        DATA_IN,
        "模拟互联网医院 / Simulate an internet hospital: canonical tables + ground truth.",
    ),
    "demo": (
        "careops.demo:demo",
        DATA_IN,
        "演示: 模拟一家互联网医院, 导入仓库, 打印概况 / Simulate, ingest and summarise a hospital.",
    ),
    "tags": ("careops.tags.cli:tags_app", TAGS, "用户标签 Patient tags: compute, show, list."),
    "layers": (
        "careops.tags.cli:layers_app",
        TAGS,
        "用户分层 Layers: counts per layer, migration, history.",
    ),
    "segment": (
        "careops.segments.cli:segment_app",
        TAGS,
        "人群圈选 Segments from tags and events.",
    ),
    "cluster": (
        "careops.tags.cli:cluster_command",
        TAGS,
        "聚类分层 K-Means on behaviour and value features; proposes named, data-driven layers.",
    ),
    "experiment": (
        "careops.experiments.cli:app",
        MEASURE,
        "A/B 实验：分析结果、估算样本量、新建/停止/删除 (experiments: analyse, size, manage).",
    ),
    "metrics": (
        "careops.metrics.cli:metrics_command",
        MEASURE,
        "运营指标 Metrics: compute one metric as of a date, or `list` them all.",
    ),
    "report": (
        "careops.report.cli:report_command",
        MEASURE,
        "运营报告 Report: the main metrics as one HTML file with charts (works offline).",
    ),
    "clv": (
        "careops.models.clv.cli:clv_app",
        MODELS,
        "客户终身价值 Lifetime value: BG/NBD + Gamma-Gamma (fit on any log, score patients).",
    ),
    "journeys": (
        "careops.journeys.cli:app",
        TAGS,
        "自动化旅程 Journeys: validate definitions, list and show them.",
    ),
    "channels": (
        "careops.journeys.channels.cli:app",
        SERVICE,
        "触达渠道 Channels: probe the configured providers without sending to patients.",
    ),
    "sends": (
        "careops.journeys.sends_cli:sends_app",
        TAGS,
        "发送记录 / The send log: every decided send with its status and reason.",
    ),
    "churn": (
        "careops.models.churn.cli:churn_app",
        MODELS,
        "流失预测 Churn: who goes quiet within 7 days, with reasons (LightGBM, calibrated).",
    ),
    "recommend": (
        "careops.models.recommend.cli:recommend_app",
        MODELS,
        "个性化推荐 Recommendations: services, packages, content and doctors per patient "
        "(ALS, medical rules, reasons).",
    ),
    "nextneed": (
        "careops.models.nextneed.cli:nextneed_app",
        MODELS,
        "下一步需求 Next needs: editable rules and mined association rules, as a tag.",
    ),
    "models": (
        "careops.models.cli:models_app",
        MODELS,
        "模型登记 Model registry: trained models with as-of date, data and evaluation.",
    ),
    "serve": (
        "careops.api.cli:serve",
        SERVICE,
        "运行 HTTP 服务 / Run the HTTP service (API under /api/v1, OpenAPI at /openapi.json).",
    ),
    "users": (
        "careops.identity.cli:users_app",
        SERVICE,
        "账号与 API 密钥 / Staff accounts, care assignments and API keys.",
    ),
    "audit": (
        "careops.state.cli:audit_app",
        SERVICE,
        "审计日志 / The audit trail: who read or changed what, and whether it is intact.",
    ),
    "privacy": (
        "careops.privacy.cli:privacy_app",
        SERVICE,
        "患者隐私 / Privacy (PIPL): erase a patient, rotate the contacts key, de-identified "
        "exports.",
    ),
    "tasks": (
        "careops.tasks.cli:tasks_app",
        SERVICE,
        "待办任务 / Tasks for health managers, doctors and operations.",
    ),
    "dose": (
        "careops.care.dose_cli:dose_app",
        CARE,
        "儿童剂量计算 Paediatric dosage: check an order against the limits, list the drugs.",
    ),
    "triage": (
        "careops.triage.cli:triage_app",
        CARE,
        "智能导诊 Smart triage: symptom text → red flag, departments, doctors.",
    ),
    "points": (
        "careops.points.cli:points_app",
        CARE,
        "积分与等级 Growth points: balance, earn, redeem coupons, ledger, levels, doctors.",
    ),
    "referral": (
        "careops.points.cli:referral_app",
        CARE,
        "邀请裂变 Referral: invite codes, attribution, rewards, invitation tree, K-factor.",
    ),
    "packages": (
        "careops.care.packages_cli:packages_app",
        CARE,
        "服务包 Service packages: catalogue, usage, activation, renewal, SLA, outcomes.",
    ),
    "health": (
        "careops.care.health_cli:health_app",
        CARE,
        "健康管理 Health management: the personal health record, plans, refills, follow-up.",
    ),
}


def load_command(name: str) -> Command:
    """Import the module behind a lazy command and build its Click command."""
    target, panel, _ = LAZY[name]
    module, attribute = target.split(":")
    obj = getattr(importlib.import_module(module), attribute)
    holder = typer.Typer(add_completion=False)  # no --install-completion on subcommands
    if isinstance(obj, typer.Typer):
        holder.add_typer(obj, name=name)
        command = typer.main.get_command(holder).commands[name]  # type: ignore[attr-defined]
    else:
        holder.command(name)(obj)
        command = typer.main.get_command(holder)
    command.name = name
    command.rich_help_panel = panel  # type: ignore[attr-defined]
    return command


def listing_command(name: str) -> Command:
    """A stand-in that only carries a lazy command's one-line help, for `careops --help`."""
    _, panel, short = LAZY[name]
    return TyperCommand(name, help=short, rich_help_panel=panel)


class _LazyGroup(TyperGroup):
    """The root group: commands defined here, plus the domains' commands loaded on demand."""

    _listing = False

    def format_help(self, ctx: Context, formatter) -> None:
        self._listing = True  # the list of commands needs their help lines, not their modules
        try:
            super().format_help(ctx, formatter)
        finally:
            self._listing = False

    def list_commands(self, ctx: Context) -> list[str]:
        return [*LAZY, *super().list_commands(ctx)]

    def get_command(self, ctx: Context, cmd_name: str) -> Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY:
            if self._listing:
                return listing_command(cmd_name)
            self.commands[cmd_name] = load_command(cmd_name)
        return super().get_command(ctx, cmd_name)

    def resolve_command(self, ctx: Context, args: list[str]) -> tuple:
        name, known = (args[0] if args else ""), self.list_commands(ctx)
        if name and not name.startswith("-") and name not in known:
            close = difflib.get_close_matches(name, known, n=1)
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


def _print_version(value: bool) -> None:
    if value:
        print(__version__)
        raise typer.Exit()


@app.callback()
def _root(
    lang: LangOpt = None,
    _version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="版本 / Print the version."
        ),
    ] = False,
) -> None:
    """CareOps 互联网医院患者运营平台."""
    if lang is not None:  # `careops --lang en COMMAND`: every command's default language
        os.environ["CAREOPS_LANG"] = lang
        get_settings.cache_clear()


@app.command(rich_help_panel=TOOLS)
def version() -> None:
    """Print the CareOps version."""
    print(__version__)


@app.command(
    rich_help_panel=TOOLS,
    context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
)
def bench(
    ctx: typer.Context,
    name: str = typer.Argument("all", help="ingest | fhir | simulate | tags | metrics | all"),
) -> None:
    """运行基准测试并保存 JSON 结果 / Run a benchmark from benchmarks/ and save its JSON."""
    from careops import bench as runner

    runner.run(name, list(ctx.args))


def main() -> None:
    """Entry point: run the app, turning CareOps errors into a message and an exit code."""
    try:
        app()
    except CareOpsError as exc:
        from careops.cliutil import error_text

        _fail(error_text(exc), exc.exit_code)
    except Exception as exc:
        if type(exc).__name__ != "TableNotFound":  # ibis' error, without importing ibis here
            raise
        _fail(
            f"the warehouse has no table {exc.args[0] if exc.args else ''!s}: check --warehouse, "
            "or create and fill it with `careops init` and `careops ingest`",
            2,
        )


def _fail(message: str, code: int) -> None:
    from careops.cliutil import safe

    err.print(f"[bold red]错误 / error:[/] {safe(message)}", soft_wrap=True, highlight=False)
    sys.exit(code)
