"""Analyse an experiment from per-user rows: one row per user with variant, metric value and an
optional pre-period covariate.

The rows are summed per variant by one Ibis aggregation (`summarise`), so the same code runs on a
file (through an in-memory Ibis table) and on the warehouse (exposures joined with a metric), and
only a handful of sums per variant come back to Python. `analyze_statistics` then does the maths:
frequentist test, Bayesian comparison, CUPED, SRM and the multiple-comparison correction.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import ibis
import numpy as np
import pyarrow as pa

from careops.errors import ConfigError, InputError
from careops.experiments.assign import GLOBAL_CONTROL
from careops.experiments.definition import WEIGHT_TOLERANCE, ExperimentDefinition
from careops.experiments.rows import check_ibis_rows, infer_kind, validate_users
from careops.experiments.stats.bayesian import bayesian_test
from careops.experiments.stats.cuped import adjust, pooled_theta
from careops.experiments.stats.frequentist import frequentist_test
from careops.experiments.stats.multiple import adjust_p_values
from careops.experiments.stats.results import BayesianResult, FrequentistResult, error_message
from careops.experiments.stats.settings import (
    BayesianSettings,
    Correction,
    FrequentistSettings,
    MetricKind,
)
from careops.experiments.stats.srm import SrmResult, srm_check
from careops.experiments.stats.statistics import (
    ArmStatistic,
    CupedStatistic,
    Moments,
    Proportion,
    RatioCupedStatistic,
    RatioStatistic,
    SampleMean,
)

_CUPED = (CupedStatistic, RatioCupedStatistic)


@dataclass(frozen=True, slots=True)
class VariantResult:
    """One variant's line: its size and mean, and (for a treatment) its comparison with control."""

    variant: str
    is_control: bool
    n: int
    mean: float
    frequentist: FrequentistResult | None = None
    bayesian: BayesianResult | None = None
    adjusted_p_value: float | None = None

    @property
    def error(self) -> str | None:
        return self.frequentist.error if self.frequentist else None


@dataclass(frozen=True, slots=True)
class Analysis:
    """The analysis of one metric: every variant's line, the SRM check and how it was computed."""

    metric: str
    kind: MetricKind
    control: str
    variants: tuple[VariantResult, ...]
    srm: SrmResult
    weights: dict[str, float]
    alpha: float
    correction: Correction
    sequential: bool
    cuped_theta: float | None = None
    variance_reduction: float | None = None
    notes: tuple[str, ...] = field(default=())

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        """JSON-ready form; NaN becomes null and each error code carries its message."""
        out = _clean(asdict(self))
        for row in out["variants"]:
            code = (row.get("frequentist") or {}).get("error")
            row["error"] = code
            row["error_message"] = error_message(code, lang) if code else None
        return out


def _clean(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, np.floating | np.integer):
        return _clean(value.item())
    return value


# ---------------------------------------------------------------- aggregation (Ibis)


def summarise(
    table: ibis.Table,
    variant: str = "variant",
    metric: str = "metric",
    covariate: str | None = None,
    denominator: str | None = None,
    covariate_denominator: str | None = None,
) -> ibis.Table:
    """Per-variant sufficient statistics as an Ibis expression (runs in any backend).

    Columns: variant, n, sum, sum_squares; with a covariate pre_sum, pre_sum_squares,
    sum_products. A ratio metric (`denominator` given) adds den_sum, den_sum_squares,
    num_den, and with a covariate (then `covariate_denominator` too) the covariate's
    denominator sums and the cross-products of the four per-user values.
    """
    y = table[metric].cast("float64")
    metrics: dict[str, Any] = {
        "n": table.count(),
        "sum": y.sum(),
        "sum_squares": (y * y).sum(),
    }
    x = table[covariate].cast("float64") if covariate is not None else None
    if x is not None:
        metrics |= {
            "pre_sum": x.sum(),
            "pre_sum_squares": (x * x).sum(),
            "sum_products": (x * y).sum(),
        }
    if denominator is not None:
        d = table[denominator].cast("float64")
        metrics |= {"den_sum": d.sum(), "den_sum_squares": (d * d).sum(), "num_den": (y * d).sum()}
        if x is not None:
            if covariate_denominator is None:
                raise ValueError("a ratio covariate needs its denominator column")
            e = table[covariate_denominator].cast("float64")
            metrics |= {
                "pre_den_sum": e.sum(),
                "pre_den_sum_squares": (e * e).sum(),
                "pre_num_den": (x * e).sum(),
                "num_pre_den": (y * e).sum(),
                "den_pre_num": (d * x).sum(),
                "den_pre_den": (d * e).sum(),
            }
    return table.group_by(table[variant].cast("string").name("variant")).aggregate(**metrics)


def arm_statistics(
    sums: pa.Table, kind: MetricKind, with_covariate: bool
) -> dict[str, ArmStatistic]:
    """Turn the aggregated rows of `summarise` into one sufficient statistic per variant."""
    arms: dict[str, ArmStatistic] = {}
    for row in sums.to_pylist():
        n = int(row["n"])
        post = SampleMean(n, float(row["sum"]), float(row["sum_squares"]))
        if kind == "ratio":
            den = SampleMean(n, float(row["den_sum"]), float(row["den_sum_squares"]))
            ratio = RatioStatistic(post, den, float(row["num_den"]))
            if with_covariate:
                pre = RatioStatistic(
                    SampleMean(n, float(row["pre_sum"]), float(row["pre_sum_squares"])),
                    SampleMean(n, float(row["pre_den_sum"]), float(row["pre_den_sum_squares"])),
                    float(row["pre_num_den"]),
                )
                cross = tuple(
                    float(row[k])
                    for k in ("sum_products", "num_pre_den", "den_pre_num", "den_pre_den")
                )
                arms[row["variant"]] = RatioCupedStatistic(ratio, pre, cross)  # type: ignore[arg-type]
            else:
                arms[row["variant"]] = ratio
        elif with_covariate:
            arms[row["variant"]] = CupedStatistic(
                post,
                SampleMean(n, float(row["pre_sum"]), float(row["pre_sum_squares"])),
                float(row["sum_products"]),
            )
        elif kind == "proportion":
            arms[row["variant"]] = Proportion(n, float(row["sum"]))
        else:
            arms[row["variant"]] = post
    return arms


def _empty_arm(kind: MetricKind, with_covariate: bool) -> ArmStatistic:
    empty = SampleMean(0, 0.0, 0.0)
    if kind == "ratio":
        ratio = RatioStatistic(empty, empty, 0.0)
        return RatioCupedStatistic(ratio, ratio, (0.0,) * 4) if with_covariate else ratio  # type: ignore[arg-type]
    if with_covariate:
        return CupedStatistic(empty, empty, 0.0)
    return Proportion(0, 0.0) if kind == "proportion" else empty


# ---------------------------------------------------------------- the maths


def check_weights(weights: Mapping[str, float]) -> dict[str, float]:
    """Validate design weights: positive and summing to 1."""
    for name, w in weights.items():
        if not w > 0:
            raise ConfigError(
                f"组别 {name!r} 的权重为 {w}, 权重必须为正 / weight of variant {name!r} is {w}; "
                "weights must be positive"
            )
    total = math.fsum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        listed = ", ".join(f"{k}={v:g}" for k, v in weights.items())
        raise ConfigError(
            f"组别权重之和为 {total:g}, 不是 1 ({listed}) / variant weights sum to {total:g}, not "
            f"1 ({listed})"
        )
    return dict(weights)


def resolve_variants(
    observed: Mapping[str, int],
    control: str | None,
    declared: Sequence[str] | None,
    variant_col: str = "variant",
) -> tuple[str, list[str]]:
    """Choose the control and the ordered variant list, refusing unknown names clearly."""
    if declared:
        unknown = {k: v for k, v in observed.items() if k not in declared}
        if unknown:
            name, count = next(iter(unknown.items()))
            msg = (
                f"variant column {variant_col!r} has value {name!r} ({count} users) that is not"
                f" a declared variant ({', '.join(declared)}); fix the data or declare it"
            )
            raise InputError(msg)
        names = list(declared)
    else:
        names = sorted(observed)
    if control is None:
        if declared:
            control = declared[0]
        elif "control" in observed:
            control = "control"
        else:
            msg = (
                f"没有名为 'control' 的组, 请指明对照组 (现有组别: {', '.join(names)}) / no "
                "variant is called 'control'; name the control group"
                f" (variants present: {', '.join(names)})"
            )
            raise ConfigError(msg, field="control")
    if control not in names:
        msg = (
            f"对照组 {control!r} 不在列 {variant_col!r} 的组别中 (现有: {', '.join(names)}) / "
            f"control {control!r} is not a variant in column {variant_col!r}; variants present:"
            f" {', '.join(names)}"
        )
        raise ConfigError(msg, field="control")
    if len(names) < 2:
        msg = f"only one variant ({names[0]!r}) is present; an experiment needs at least two"
        raise InputError(msg)
    return control, [control] + [n for n in names if n != control]


def analyze_statistics(
    arms: Mapping[str, ArmStatistic],
    control: str,
    metric: str = "metric",
    kind: MetricKind = "mean",
    weights: Mapping[str, float] | None = None,
    frequentist: FrequentistSettings | None = None,
    bayesian: BayesianSettings | None = None,
    correction: Correction = "holm",
    srm_p: float = 0.001,
) -> Analysis:
    """Compare every variant with `control` from per-variant sufficient statistics.

    `arms` maps variant → statistic; `control` must be among them. `weights` (design shares)
    default to an equal split for the SRM check.
    """
    fs = frequentist or FrequentistSettings()
    names = [control] + [n for n in arms if n != control]
    notes: list[str] = [] if weights else ["srm_equal_split"]
    weights = check_weights(weights) if weights else {n: 1.0 / len(names) for n in names}
    theta = reduction = None
    if all(isinstance(a, _CUPED) for a in arms.values()):
        cuped = {k: a for k, a in arms.items() if isinstance(a, _CUPED)}
        theta, reduction, moments = _cuped_moments(cuped)
        means = {k: a.post.mean for k, a in cuped.items()}
    else:
        moments = {k: a if isinstance(a, Proportion) else a.moments() for k, a in arms.items()}
        means = {k: a.mean for k, a in arms.items()}
    results = {
        k: (
            frequentist_test(moments[control], moments[k], fs),
            bayesian_test(moments[control], moments[k], bayesian),
        )
        for k in names[1:]
    }
    adjusted = adjust_p_values([results[k][0].p_value for k in names[1:]], correction)
    rows = [VariantResult(control, True, arms[control].n, means[control])]
    for k, p_adj in zip(names[1:], adjusted, strict=True):
        rows.append(
            VariantResult(k, False, arms[k].n, means[k], results[k][0], results[k][1], float(p_adj))
        )
    srm = srm_check({k: arms[k].n for k in names}, weights, srm_p)
    return Analysis(
        metric=metric,
        kind=kind,
        control=control,
        variants=tuple(rows),
        srm=srm,
        weights=dict(weights),
        alpha=fs.alpha,
        correction=correction,
        sequential=fs.sequential,
        cuped_theta=theta,
        variance_reduction=reduction,
        notes=tuple(notes),
    )


def _cuped_moments(
    arms: Mapping[str, CupedStatistic | RatioCupedStatistic],
) -> tuple[float, float, dict[str, Moments | Proportion]]:
    """θ, the share of per-user variance removed, and the adjusted moments of every arm.

    Arms without users (or, for a ratio, without units) are left out of θ and keep their
    unadjusted moments, which the tests report as `empty_arm` / `no_units`.
    """
    present = {k: a for k, a in arms.items() if a.n > 0 and math.isfinite(a.post.variance)}
    moments: dict[str, Moments | Proportion] = {
        k: a.post.moments() if isinstance(a, RatioCupedStatistic) else Moments(a.n, 0.0, 0.0)
        for k, a in arms.items()
    }
    if not present:
        return 0.0, 0.0, moments
    theta = pooled_theta(present)
    adjusted = adjust(present)
    raw = sum(a.post.variance * a.n for a in present.values())
    kept = sum(adjusted[k].variance * a.n for k, a in present.items())
    return theta, (1.0 - kept / raw if raw > 0 else 0.0), moments | adjusted


def analyze_ibis(
    table: ibis.Table,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None = None,
    kind: MetricKind = "mean",
    control: str | None = None,
    variants: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    denominator_col: str | None = None,
    covariate_denominator_col: str | None = None,
    **settings: Any,
) -> Analysis:
    """Analyse per-user rows held in any Ibis backend (the warehouse path): the backend sums,
    Python compares. With `denominator_col` the metric is the ratio Σmetric / Σdenominator
    (kind `ratio`, delta method). `settings` go to `analyze_statistics`."""
    if denominator_col is not None:
        kind = "ratio"
    sums = summarise(
        table, variant_col, metric_col, covariate_col, denominator_col, covariate_denominator_col
    ).to_pyarrow()
    with_cov = covariate_col is not None
    arms = arm_statistics(sums, kind, with_cov)
    declared = list(weights) if weights else (list(variants) if variants else None)
    control, order = resolve_variants(
        {k: a.n for k, a in arms.items()}, control, declared, variant_col
    )
    ordered = {k: arms.get(k, _empty_arm(kind, with_cov)) for k in order}
    return analyze_statistics(ordered, control, metric_col, kind, weights, **settings)


def analyze_table(
    table: pa.Table,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None = None,
    kind: MetricKind | None = None,
    control: str | None = None,
    variants: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    first_row: int = 1,
    **settings: Any,
) -> Analysis:
    """Analyse a per-user Arrow table: validate the rows, aggregate them with Ibis, compare.

    kind: `proportion` or `mean`; inferred from the values when None (all 0/1 → proportion).
    variants / weights: the declared design; a variant in the data but not declared is an error,
    a declared variant with no users is reported with the `empty_arm` code.
    first_row: the number errors give the first row (2 for a CSV file: its line numbers).
    """
    if weights:
        check_weights(weights)
    clean = validate_users(table, variant_col, metric_col, covariate_col, first_row)
    from careops.warehouse.connect import scratch

    return _analyze_rows(
        scratch().create_table("experiment_users", clean),
        infer_kind(clean.column(metric_col)),
        variant_col,
        metric_col,
        covariate_col,
        kind,
        control,
        variants,
        weights,
        **settings,
    )


def _analyze_rows(
    table: ibis.Table,
    inferred: MetricKind,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None,
    kind: MetricKind | None,
    control: str | None,
    variants: Sequence[str] | None,
    weights: Mapping[str, float] | None,
    **settings: Any,
) -> Analysis:
    """`analyze_ibis` on validated rows whose kind was inferred as `inferred`; a `proportion`
    asked for on values that are not 0/1 is refused."""
    if kind == "proportion" and inferred != "proportion":
        msg = f"metric column {metric_col!r} is not 0/1, so it cannot be a proportion metric"
        raise InputError(msg)
    return analyze_ibis(
        table,
        variant_col,
        metric_col,
        covariate_col,
        kind=kind or inferred,
        control=control,
        variants=variants,
        weights=weights,
        **settings,
    )


def analyze_experiment(
    experiment: ExperimentDefinition,
    table: ibis.Table,
    metric_col: str,
    covariate_col: str | None = None,
    variant_col: str = "variant",
    kind: MetricKind = "mean",
    control: str | None = None,
    **settings: Any,
) -> Analysis:
    """Analyse one metric of a defined experiment from per-user rows in the warehouse.

    The design's variants, weights (for SRM) and control (unless `control` names another
    variant) are used; rows labelled `global_control` (users held out of all marketing) are not
    part of the experiment and are left out. `settings` go to `analyze_ibis` (e.g.
    `denominator_col` for a ratio metric) and `analyze_statistics`.
    """
    if control is not None and control not in experiment.weights:
        msg = (
            f"对照组 {control!r} 不是实验 {experiment.key!r} 的组别 (组别: "
            f"{', '.join(experiment.weights)}) / control {control!r} is not a variant of "
            f"experiment {experiment.key!r}; variants are {', '.join(experiment.weights)}"
        )
        raise ConfigError(msg, field="control")
    rows = table.filter(table[variant_col].cast("string") != GLOBAL_CONTROL)
    return analyze_ibis(
        rows,
        variant_col,
        metric_col,
        covariate_col,
        kind=kind,
        control=control or experiment.control,
        weights=experiment.weights,
        **settings,
    )


def correct_across(analyses: Sequence[Analysis], method: Correction) -> list[Analysis]:
    """Adjust p-values jointly over every (metric, variant) comparison of several analyses,
    e.g. all primary metrics of an experiment; returns the analyses with `adjusted_p_value`
    replaced and `correction` set."""
    p_values = [
        v.frequentist.p_value
        for a in analyses
        for v in a.variants
        if not v.is_control and v.frequentist is not None
    ]
    adjusted = iter(adjust_p_values(p_values, method).tolist())
    out = []
    for a in analyses:
        rows = tuple(
            v
            if v.is_control or v.frequentist is None
            else replace(v, adjusted_p_value=next(adjusted))
            for v in a.variants
        )
        out.append(replace(a, variants=rows, correction=method))
    return out


def analyze_warehouse_table(
    con: ibis.BaseBackend,
    name: str,
    variant_col: str,
    metric_col: str,
    covariate_col: str | None = None,
    kind: MetricKind | None = None,
    control: str | None = None,
    variants: Sequence[str] | None = None,
    weights: Mapping[str, float] | None = None,
    **settings: Any,
) -> Analysis:
    """Analyse a per-user table that already lives in the warehouse (validated in the backend;
    only per-variant sums come back)."""
    if weights:
        check_weights(weights)
    if name not in con.list_tables():
        raise InputError(f"仓库中没有表 {name!r} / table {name!r} is not in the warehouse")
    table = con.table(name)
    inferred = check_ibis_rows(table, variant_col, metric_col, covariate_col)
    return _analyze_rows(
        table,
        inferred,
        variant_col,
        metric_col,
        covariate_col,
        kind,
        control,
        variants,
        weights,
        **settings,
    )
