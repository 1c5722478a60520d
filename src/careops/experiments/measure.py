"""Analyse a stored experiment over its own exposures and registry metrics in the warehouse.

`analyze_stored(con, engine, key, metrics, as_of=…)` is the one implementation behind
`careops experiment analyze --experiment KEY` (and the API and web later):

- population: every exposed user (intention to treat), exposed before the cut-off;
- window: each user's facts from their exposure to min(experiment end, 00:00 of as_of); the
  metric's own look-back is widened to cover the whole experiment (`window.ExposureContext`);
- per-user metrics (den = 1 per user) become the mean over exposed users, users outside the
  metric's own population counting 0; ratio metrics (`Metric.per_user` False) are Σnum / Σden
  per arm by the delta method, users without units counting in n with 0 / 0;
- `cuped`: the same metric over the equal-length period just before the start as covariate;
- several metrics (default: the experiment's primary then guardrail metrics) are corrected
  together (`correct_across`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import ibis
import ibis.expr.types as ir
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend
from sqlalchemy.engine import Engine

from careops.asof import today
from careops.config import get_settings
from careops.errors import InputError
from careops.experiments.analyze import Analysis, analyze_experiment, correct_across
from careops.experiments.definition import ExperimentDefinition
from careops.experiments.rows import check_ibis_rows
from careops.experiments.stats.settings import Correction
from careops.experiments.store import get_definition, read_exposures
from careops.experiments.window import ExposureContext, as_utc, ceil_day
from careops.metrics.errors import AsOfError, MetricError
from careops.metrics.registry import Metric, all_metrics, get_metric


@dataclass(frozen=True)
class MetricOutcome:
    """One metric's analysis and how it was measured (the metric by its code; the shell names
    it)."""

    name: str
    role: str  # primary, guardrail, or "" when asked for by name only
    per_user: bool
    analysis: Analysis


@dataclass(frozen=True)
class ExperimentOutcome:
    """A stored experiment's analysis as of a date."""

    experiment: str
    as_of: date
    start: datetime
    cutoff: datetime
    pre_start: datetime | None
    exposed: dict[str, int]
    correction: Correction
    metrics: tuple[MetricOutcome, ...]

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {
            "experiment": self.experiment,
            "as_of": self.as_of.isoformat(),
            "window": {
                "start": self.start.isoformat(),
                "end": self.cutoff.isoformat(),
                "pre_start": self.pre_start.isoformat() if self.pre_start else None,
            },
            "exposed": self.exposed,
            "correction": self.correction,
            "metrics": [
                {
                    "name": m.name,
                    "label": get_metric(m.name).label(lang),
                    "role": m.role,
                    "measure": "per_user" if m.per_user else "ratio",
                    **m.analysis.to_dict(lang),
                }
                for m in self.metrics
            ],
        }


def experiment_metric(name: str) -> Metric:
    """A registry metric usable in an experiment (a unit metric), or a clear error."""
    metric = get_metric(name)
    if metric.kind == "analysis":
        usable = ", ".join(m.name for m in all_metrics() if m.kind != "analysis")
        raise MetricError(
            f"指标 {name!r} 是分析表 (漏斗或同期群), 不是每个用户的取值, 实验无法比较它; "
            f"可用的指标: {usable} / metric {name!r} is an analysis (a funnel or cohort "
            f"table), not a value per user, so an experiment cannot compare it; use a unit "
            f"metric: {usable}"
        )
    return metric


def analyze_stored(
    con: BaseBackend,
    engine: Engine,
    key: str,
    metrics: list[str] | None = None,
    *,
    as_of: date | None = None,
    cuped: bool = False,
    control: str | None = None,
    correction: Correction = "holm",
    lang: str | None = None,
    **settings: Any,
) -> ExperimentOutcome:
    """Analyse experiment `key` on `metrics` (default: its primary and guardrail metrics) as of
    `as_of` (default: today, hospital time). `settings` go to `analyze_statistics`
    (frequentist, bayesian, srm_p). The outcome carries codes; `lang` is not used (kept for
    callers: `ExperimentOutcome.to_dict(lang)` and the CLI name things)."""
    definition = get_definition(engine, key)
    roles = _roles(definition, metrics)
    chosen = [(experiment_metric(name), role) for name, role in roles.items()]
    if control is not None and control not in definition.weights:
        raise InputError(
            f"对照组 {control!r} 不是实验 {key!r} 的组别 (组别: {', '.join(definition.weights)}) "
            f"/ control {control!r} is not a variant of experiment {key!r}; "
            f"variants are {', '.join(definition.weights)}",
            field="control",
        )
    exposures = read_exposures(engine, key)
    if not exposures.num_rows:
        raise InputError(
            f"实验 {key!r} 还没有曝光记录; 请在用户进入实验时记录曝光或导入曝光 / experiment "
            f"{key!r} has no exposures yet; log exposures when users meet it, or import them"
        )
    as_of = as_of or today()  # the frame's one default: today in hospital time
    post, exposures = _post_context(con, definition, exposures, as_of)
    post.validate()
    start = _start(definition, exposures)
    pre = _pre_context(con, exposures, start, post.cutoff) if cuped else None
    results = []
    for metric, role in chosen:
        table = per_user_table(exposures, metric, post, pre)
        analysis = _analyze(
            definition, table, metric, pre is not None, control, correction, settings
        )
        results.append(MetricOutcome(metric.name, role, metric.per_user, analysis))
    if len(results) > 1 and correction != "none":
        adjusted = correct_across([r.analysis for r in results], correction)
        results = [
            MetricOutcome(r.name, r.role, r.per_user, a)
            for r, a in zip(results, adjusted, strict=True)
        ]
    counts = pc.value_counts(exposures.column("variant")).to_pylist()
    exposed = {v: 0 for v in definition.weights} | {c["values"]: c["counts"] for c in counts}
    return ExperimentOutcome(
        key,
        as_of,
        start,
        post.cutoff,
        pre.window_start if pre else None,
        exposed,
        correction,
        tuple(results),
    )


def _roles(definition: ExperimentDefinition, metrics: list[str] | None) -> dict[str, str]:
    if not metrics:
        return {m: "primary" for m in definition.primary_metrics} | {
            m: "guardrail" for m in definition.guardrail_metrics
        }
    role = {m: "primary" for m in definition.primary_metrics}
    role |= {m: "guardrail" for m in definition.guardrail_metrics}
    return {m: role.get(m, "") for m in dict.fromkeys(metrics)}


def _start(definition: ExperimentDefinition, exposures: pa.Table) -> datetime:
    """The experiment's start, or its first exposure when it has none."""
    if definition.start is not None:
        return definition.start
    return as_utc(pc.min(exposures.column("exposed_at")).as_py())


def _post_context(
    con: BaseBackend, definition: ExperimentDefinition, exposures: pa.Table, as_of: date
) -> tuple[ExposureContext, pa.Table]:
    """The in-experiment context, and the exposures that happened before its cut-off."""
    probe = ExposureContext(con, as_of, until=definition.end)
    start = _start(definition, exposures)
    if probe.cutoff <= start:
        raise AsOfError(
            f"统计日 {as_of} 不晚于实验 {definition.key!r} 的开始时间 "
            f"({start.astimezone(probe.settings.tz).isoformat()}), 还没有可分析的数据 / "
            f"as_of {as_of} is not after the start of experiment {definition.key!r} "
            f"({start.astimezone(probe.settings.tz).isoformat()}); nothing to analyse yet",
            field="as_of",
        )
    cutoff = probe.cutoff
    before = pc.less(
        exposures.column("exposed_at"), pa.scalar(cutoff, exposures.schema.field("exposed_at").type)
    )
    exposures = exposures.filter(before)
    if not exposures.num_rows:
        raise InputError(
            f"实验 {definition.key!r} 在统计日 {as_of} 之前没有曝光 / experiment "
            f"{definition.key!r} has no exposures before as_of {as_of}",
            field="as_of",
        )
    starts = pa.table(
        {"user_id": exposures.column("user_id"), "since": exposures.column("exposed_at")}
    )
    ctx = ExposureContext(
        con, ceil_day(probe.settings.tz, cutoff), starts=starts, until=cutoff, window_start=start
    )
    return ctx, exposures


def _pre_context(
    con: BaseBackend, exposures: pa.Table, start: datetime, cutoff: datetime
) -> ExposureContext:
    """The CUPED covariate's context: the same users over [start − length, start)."""
    since = start - (cutoff - start)
    starts = pa.table(
        {
            "user_id": exposures.column("user_id"),
            "since": pa.array([since] * exposures.num_rows, pa.timestamp("us", tz="UTC")),
        }
    )
    tz = get_settings().tz
    return ExposureContext(con, ceil_day(tz, start), starts=starts, until=start, window_start=since)


def _metric_values(ctx: ExposureContext, metric: Metric) -> ir.Table:
    """(user_id, num, den) per user, the metric's look-back widened to the context's window."""
    params = dict(metric.params)
    if "window_days" in params:
        params["window_days"] = ctx.window_days()
    assert metric.units is not None
    u = metric.units(ctx, **params)
    u = u.select(
        user_id=u.user_id.cast("string"), num=u.num.cast("float64"), den=u.den.cast("float64")
    )
    return u.group_by("user_id").aggregate(num=u.num.sum(), den=u.den.sum())


def per_user_table(
    exposures: pa.Table, metric: Metric, post: ExposureContext, pre: ExposureContext | None = None
) -> ir.Table:
    """One row per exposed user: variant, y (numerator × scale), d (denominator; 1 for per-user
    metrics) and with `pre` the covariate x, e. Users without facts get 0 (and d = 1 for per-user
    metrics: intention to treat)."""
    e = ibis.memtable(
        pa.table({"uid": exposures.column("user_id"), "variant": exposures.column("variant")})
    )
    one = ibis.literal(1.0)
    parts = {"": post} | ({"pre_": pre} if pre is not None else {})
    table = e
    for prefix, ctx in parts.items():
        v = _metric_values(ctx, metric)
        v = v.select(**{f"{prefix}vid": v.user_id, f"{prefix}num": v.num, f"{prefix}den": v.den})
        table = table.left_join(v, table.uid == v[f"{prefix}vid"])
    y = ibis.coalesce(table.num, 0.0) * metric.scale
    d = one if metric.per_user else ibis.coalesce(table.den, 0.0)
    cols: dict[str, Any] = {"user_id": table.uid, "variant": table.variant, "y": y, "d": d}
    if pre is not None:
        cols["x"] = ibis.coalesce(table.pre_num, 0.0) * metric.scale
        cols["e"] = one if metric.per_user else ibis.coalesce(table.pre_den, 0.0)
    return table.select(**cols)


def _analyze(
    definition: ExperimentDefinition,
    table: ir.Table,
    metric: Metric,
    with_pre: bool,
    control: str | None,
    correction: Correction,
    settings: dict[str, Any],
) -> Analysis:
    cov = "x" if with_pre else None
    if metric.per_user:
        kind = check_ibis_rows(table, "variant", "y", cov)
        return analyze_experiment(
            definition,
            table,
            "y",
            cov,
            kind=kind,
            control=control,
            correction=correction,
            **settings,
        )
    return analyze_experiment(
        definition,
        table,
        "y",
        cov,
        kind="ratio",
        control=control,
        correction=correction,
        denominator_col="d",
        covariate_denominator_col="e" if with_pre else None,
        **settings,
    )
