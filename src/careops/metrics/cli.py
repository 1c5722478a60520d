"""`careops metrics NAME|list [--as-of D] [--by TAG] [--json]` — a thin shell over `compute`."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from careops.asof import parse_as_of
from careops.cliutil import WarehouseOpt, ops, safe
from careops.config import get_settings
from careops.errors import ConfigError
from careops.labels import by_label, category_label, group_label, metric_description
from careops.metrics.context import data_end
from careops.metrics.format import (
    fmt,
    fmt_number,
    funnel_text,
    labelled,
    note_text,
    result_label,
    stale_note,
    step_label,
    window_text,
)
from careops.metrics.registry import all_metrics, get_metric
from careops.metrics.result import CohortResult, FunnelResult, MetricResult, Result

out = Console()
err = Console(stderr=True)


__all__ = ["metrics_command", "parse_lang", "warn_if_stale"]


def parse_lang(value: str | None) -> str:
    lang = value or get_settings().lang
    if lang not in ("zh", "en"):
        raise ConfigError(f"--lang: expected zh or en, got {value!r}")
    return lang


def metrics_command(
    name: Annotated[str, typer.Argument(help="metric name (see `careops metrics list`)")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="YYYY-MM-DD, default today")] = None,
    by: Annotated[str | None, typer.Option("--by", help="break down by a column or tag")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
    lang: Annotated[str | None, typer.Option("--lang", help="zh or en")] = None,
    window_days: Annotated[int | None, typer.Option("--window-days")] = None,
    steps: Annotated[str | None, typer.Option("--steps", help="funnel steps a,b,c")] = None,
    conversion_days: Annotated[int | None, typer.Option("--conversion-days")] = None,
    period_days: Annotated[int | None, typer.Option("--period-days")] = None,
    grain: Annotated[str | None, typer.Option("--grain", help="cohort: week or month")] = None,
    warehouse: WarehouseOpt = None,
) -> None:
    """运营指标 Metrics: compute one metric as of a date, or `list` them all."""
    language = parse_lang(lang)
    if name == "list":
        show_list(language, as_json)
        return
    get_metric(name)  # unknown names fail before connecting

    from careops.metrics.service import metric

    params = {
        "window_days": window_days,
        "steps": steps,
        "conversion_days": conversion_days,
        "period_days": period_days,
        "grain": grain,
    }
    given = {k: v for k, v in params.items() if v is not None}
    day = parse_as_of(as_of) if as_of is not None else None
    answer = metric(ops(warehouse), name, day, by=by, lang=language, **given)
    result = answer.result
    if as_of is None:
        hint = stale_note(answer.data_end, result.as_of, language)
        if hint:
            err.print(f"[yellow]{safe(hint)}[/]")
    if as_json:
        print(json.dumps(labelled(result, language), ensure_ascii=False, indent=2, default=str))
    else:
        show(result, language)


def warn_if_stale(con, as_of: date, lang: str) -> None:
    """Without --as-of: say where the data ends when that is before today (on stderr)."""
    hint = stale_note(data_end(con), as_of, lang)
    if hint:
        err.print(f"[yellow]{safe(hint)}[/]")


def show_list(lang: str, as_json: bool) -> None:
    metrics = all_metrics()
    if as_json:
        print(json.dumps([m.describe() for m in metrics], ensure_ascii=False, indent=2))
        return
    t = Table(title="指标 Metrics" if lang == "zh" else "Metrics")
    for col in (
        "name",
        "类别" if lang == "zh" else "category",
        "指标" if lang == "zh" else "metric",
        "说明" if lang == "zh" else "description",
    ):
        t.add_column(col)
    for m in metrics:  # the formula is in --json and docs/metrics.md
        cat = category_label(m.category, lang)
        t.add_row(m.name, cat, m.label(lang), metric_description(m.name, lang))
    out.print(t)


def show(result: Result, lang: str) -> None:
    zh = lang == "zh"
    if isinstance(result, MetricResult):
        ratio = get_metric(result.name).kind == "ratio"
        detail = (
            f"  = {fmt_number(result.numerator)} / {fmt_number(result.denominator)}"
            if ratio
            else ""
        )
        out.print(
            f"[bold]{result_label(result, lang)}[/] ({result.name}, "
            f"{window_text(result.params, lang)})"
            f" {'截至' if zh else 'as of'} {result.as_of}: "
            f"[bold cyan]{fmt(result.value, result.unit, lang)}[/]{detail}"
        )
        note = note_text(result, lang)
        if note:
            out.print(f"[yellow]{note}[/]")
        if result.groups:
            t = Table()
            cols = [by_label(result.by, lang), "值" if zh else "value"]
            if ratio:
                cols += ["分子" if zh else "numerator", "分母" if zh else "denominator"]
            for col in cols:
                t.add_column(col)
            for g in result.groups:
                row = [group_label(result.by, g.group, lang), fmt(g.value, result.unit, lang)]
                if ratio:
                    row += [fmt_number(g.numerator), fmt_number(g.denominator)]
                t.add_row(*(safe(c) for c in row))
            out.print(t)
    elif isinstance(result, FunnelResult):
        out.print(
            f"[bold]{result_label(result, lang)}[/] {'截至' if zh else 'as of'} {result.as_of}"
        )
        out.print(funnel_text(result, lang))
        _funnel_table(result.steps, lang, "")
        for group, steps in result.groups.items():
            _funnel_table(
                steps, lang, f"{by_label(result.by, lang)} = {group_label(result.by, group, lang)}"
            )
    elif isinstance(result, CohortResult):
        t = Table(title=f"{result_label(result, lang)} as of {result.as_of} ({result.grain})")
        cols = [
            "cohort",
            *(["group"] if result.by else []),
            "size",
            *[f"D{n}" for n in result.days],
        ]
        for c in cols:
            t.add_column(c)
        for r in result.rows:
            group = [group_label(result.by, r.group, lang)] if result.by else []
            row: list[Any] = [str(r.cohort), *group, str(r.size)]
            row += [fmt(r.retention[n], "ratio") for n in result.days]
            t.add_row(*(safe(c) for c in row))
        out.print(t)


def _funnel_table(steps, lang: str, title: str) -> None:
    zh = lang == "zh"
    t = Table(title=title or None)
    for col in (
        "步骤" if zh else "step",
        "用户" if zh else "users",
        "环节转化" if zh else "from previous",
        "总转化" if zh else "from first",
        "流失" if zh else "dropped",
    ):
        t.add_column(col)
    for s in steps:
        t.add_row(
            safe(step_label(s.step, lang)),
            str(s.users),
            fmt(s.rate_from_previous, "ratio"),
            fmt(s.rate_from_first, "ratio"),
            str(s.dropped),
        )
    out.print(t)
