"""`careops experiment …`: analyse an experiment (a per-user file or a stored experiment), size a
new one, and create / list / stop / delete stored experiments.

Thin shell: parses options, calls `careops.experiments`, prints a Rich table (Chinese labels by
default, `--lang en`) or JSON (`--json`). Heavy modules are imported inside the commands so that
`careops --help` stays fast.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, get_args

import typer
from rich.console import Console
from rich.table import Table

from careops.cliutil import JsonOpt, LangOpt, WarehouseOpt, err, lang_of, ops, print_json, safe
from careops.errors import ConfigError
from careops.experiments.labels import label
from careops.metrics.registry import get_metric

if TYPE_CHECKING:
    from careops.experiments.analyze import Analysis

app = typer.Typer(
    help="A/B 实验：分析结果、估算样本量、新建/停止/删除 (experiments: analyse, size, manage).",
    no_args_is_help=True,
)
_probe = Console()
out = _probe if _probe.is_terminal else Console(width=120)  # files and pipes get room for CIs

JsonOption = JsonOpt


def _split(text: str | None, option: str) -> list[str] | None:
    if not text:
        return None
    items = [t.strip() for t in text.split(",") if t.strip()]
    if len(set(items)) != len(items):
        raise ConfigError(f"{option} lists a name twice: {text}")
    return items


def _weights(text: str | None) -> dict[str, float] | None:
    """Parse `control=0.5,treatment=0.5`."""
    if not text:
        return None
    weights: dict[str, float] = {}
    for part in text.split(","):
        name, sep, value = part.partition("=")
        try:
            if not sep:
                raise ValueError
            weights[name.strip()] = float(value)
        except ValueError as exc:
            msg = f"--weights must look like control=0.5,treatment=0.5; cannot read {part!r}"
            raise ConfigError(msg) from exc
    return weights


def _call(service_function, warehouse, state, *args, **kwargs):
    """Run a service function in a fresh service context, released afterwards."""
    context = ops(warehouse, state)
    try:
        return service_function(context, *args, **kwargs)
    finally:
        context.close()


def _num(value: float | None, digits: int = 4) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.{digits}g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _pct(value: float | None) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:+.2%}"


def _p(value: float | None) -> str:
    if value is None or not math.isfinite(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _render(
    analysis: Analysis, lang: str, title: str | None = None, adjusted: bool = False
) -> None:
    """One metric's table, then its SRM (and CUPED) lines; `adjusted` shows the adjusted
    p-values even for two variants (corrected across metrics)."""
    from careops.experiments.stats.results import error_message

    kind = label(f"kind_{analysis.kind}", lang)
    level = f"{1 - analysis.alpha:.0%}"
    name = title or analysis.metric
    title = f"{label('title', lang)} · {label('metric', lang)}: {name} ({kind})"
    table = Table(title=title)
    for key in ("variant", "n", "mean"):
        table.add_column(label(key, lang), justify="left" if key == "variant" else "right")
    table.add_column(f"{label('absolute_lift', lang)}\n({level} CI)", justify="right")
    table.add_column(f"{label('relative_lift', lang)}\n({level} CI)", justify="right")
    table.add_column(label("p_value", lang), justify="right")
    multi = (len(analysis.variants) > 2 or adjusted) and analysis.correction != "none"
    if multi:
        table.add_column(f"{label('adjusted_p', lang)}\n({analysis.correction})", justify="right")
    table.add_column(label("chance_to_win", lang), justify="right")
    for row in analysis.variants:
        name = f"{row.variant}\n({label('control', lang)})" if row.is_control else row.variant
        cells = [name, f"{row.n:,}", _num(row.mean) if row.n else "—"]
        f, b = row.frequentist, row.bayesian
        if row.is_control or f is None:
            cells += ["", "", ""] + ([""] if multi else []) + [""]
        elif f.error:
            cells += [f"[yellow]{error_message(f.error, lang)}[/]", "", ""]
            cells += (["—"] if multi else []) + ["—"]
        else:
            lo, hi = f.absolute_ci
            cells.append(f"{_num(f.absolute_lift)}\n[{_num(lo)}, {_num(hi)}]")
            if f.relative_lift is None or f.relative_ci is None:
                cells.append("—")
            else:
                cells.append(
                    f"{_pct(f.relative_lift)}\n[{_pct(f.relative_ci[0])}, {_pct(f.relative_ci[1])}]"
                )
            significant = f.p_value < analysis.alpha
            cells.append(f"[bold]{_p(f.p_value)}[/]" if significant else _p(f.p_value))
            if multi:
                cells.append(_p(row.adjusted_p_value))
            cells.append("—" if b is None or b.error else f"{b.chance_to_win:.1%}")
        table.add_row(*cells)
    out.print(table)
    srm = analysis.srm
    verdict = label("srm_bad" if srm.flagged else "srm_ok", lang)
    style = "bold red" if srm.flagged else "green"
    out.print(f"{label('srm', lang)}: p = {_p(srm.p_value)} — [{style}]{verdict}[/]")
    if analysis.cuped_theta is not None:
        share = analysis.variance_reduction or 0.0
        removed = label("variance_removed", lang)
        out.print(f"{label('cuped', lang)}: θ = {analysis.cuped_theta:.4g}, {removed} {share:.1%}")
    if analysis.sequential:
        out.print(label("sequential", lang))


@app.command()
def analyze(
    file: Annotated[
        Path | None, typer.Argument(help="per-user CSV or Parquet: one row per user")
    ] = None,
    experiment: Annotated[
        str | None, typer.Option("--experiment", "-e", help="a stored experiment's key")
    ] = None,
    metric: Annotated[
        list[str] | None,
        typer.Option("--metric", help="registry metric (repeatable; default: the experiment's)"),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="--experiment: YYYY-MM-DD, default today")
    ] = None,
    cuped: Annotated[
        bool, typer.Option("--cuped", help="--experiment: pre-period of equal length")
    ] = False,
    variant_col: Annotated[
        str | None, typer.Option("--variant-col", help="column with the variant")
    ] = None,
    metric_col: Annotated[
        str | None, typer.Option("--metric-col", help="column with the metric")
    ] = None,
    covariate_col: Annotated[
        str | None, typer.Option("--covariate-col", help="pre-period value for CUPED")
    ] = None,
    control: Annotated[
        str | None, typer.Option("--control", help="control variant (default: 'control')")
    ] = None,
    variants: Annotated[
        str | None, typer.Option("--variants", help="declared variants, control first: a,b,c")
    ] = None,
    weights: Annotated[
        str | None, typer.Option("--weights", help="design split, e.g. control=0.5,b=0.5")
    ] = None,
    kind: Annotated[
        Literal["auto", "proportion", "mean"],
        typer.Option("--kind", help="auto: 0/1 values → proportion"),
    ] = "auto",
    alpha: Annotated[float | None, typer.Option("--alpha", help="default from settings")] = None,
    sequential: Annotated[
        bool, typer.Option("--sequential", help="always-valid intervals (safe to peek)")
    ] = False,
    tuning: Annotated[
        float, typer.Option("--tuning", help="sequential: total users where CIs are tightest")
    ] = 5000.0,
    correction: Annotated[
        Literal["holm", "bh", "none"],
        typer.Option("--correction", help="across variants (and metrics)"),
    ] = "holm",
    table: Annotated[
        str | None, typer.Option("--table", help="per-user table in the warehouse, not a file")
    ] = None,
    warehouse: WarehouseOpt = None,
    state: Annotated[
        str | None, typer.Option("--state", help="state store URL (default from settings)")
    ] = None,
    as_json: JsonOption = False,
    lang: LangOpt = None,
) -> None:
    """Analyse an A/B test: a stored experiment (--experiment KEY) over its exposures and
    registry metrics, or a per-user file / warehouse table (分析 A/B 实验)."""
    from careops.config import get_settings
    from careops.experiments.stats.settings import FrequentistSettings

    lang = lang_of(lang)
    settings = get_settings().experiments
    frequentist = FrequentistSettings(
        alpha=alpha if alpha is not None else settings.alpha,
        sequential=sequential,
        sequential_tuning=tuning,
    )
    if experiment is not None:
        given = {
            "FILE": file,
            "--table": table,
            "--variant-col": variant_col,
            "--metric-col": metric_col,
            "--covariate-col": covariate_col,
            "--variants": variants,
            "--weights": weights,
            "--kind": None if kind == "auto" else kind,
        }
        clash = [k for k, v in given.items() if v is not None]
        if clash:
            raise ConfigError(
                f"--experiment reads the design, exposures and metrics from the "
                f"state store and the warehouse; drop {', '.join(clash)}"
            )
        _analyze_stored(
            experiment,
            metric,
            as_of,
            cuped,
            control,
            correction,
            frequentist,
            settings.srm_p,
            warehouse,
            state,
            lang,
            as_json,
        )
        return
    stray = [
        k
        for k, v in {
            "--metric": metric,
            "--as-of": as_of,
            "--cuped": cuped or None,
            "--state": state,
        }.items()
        if v
    ]
    if stray:
        raise ConfigError(f"{', '.join(stray)} only go(es) with --experiment KEY")
    if variant_col is None or metric_col is None:
        raise ConfigError(
            "give --experiment KEY, or a FILE / --table with --variant-col and --metric-col"
        )
    _analyze_rows(
        file,
        table,
        variant_col,
        metric_col,
        covariate_col,
        control,
        variants,
        weights,
        kind,
        frequentist,
        correction,
        settings.srm_p,
        warehouse,
        lang,
        as_json,
    )


def _analyze_rows(
    file,
    table,
    variant_col,
    metric_col,
    covariate_col,
    control,
    variants,
    weights,
    kind,
    frequentist,
    correction,
    srm_p,
    warehouse,
    lang,
    as_json,
) -> None:
    from careops.experiments.analyze import analyze_table
    from careops.experiments.rows import first_row_number, read_users

    declared = _split(variants, "--variants")
    if declared and control and control not in declared:
        raise ConfigError(f"--control {control!r} is not among --variants ({variants})")
    if (file is None) == (table is None):
        raise ConfigError("give either a FILE or --table NAME (a table in the warehouse)")
    options = {
        "kind": None if kind == "auto" else kind,
        "control": control,
        "variants": declared,
        "weights": _weights(weights),
        "frequentist": frequentist,
        "correction": correction,
        "srm_p": srm_p,
    }
    if file is not None:
        users = read_users(file)
        analysis = analyze_table(
            users,
            variant_col,
            metric_col,
            covariate_col,
            first_row=first_row_number(file),
            **options,
        )
    else:
        from careops.experiments.service import analyze_warehouse_table

        analysis = analyze_warehouse_table(
            ops(warehouse), str(table), variant_col, metric_col, covariate_col, **options
        )
    if as_json:
        print(json.dumps(analysis.to_dict(lang), ensure_ascii=False, indent=2))
    else:
        _render(analysis, lang)


def _analyze_stored(
    key,
    metrics,
    as_of,
    cuped,
    control,
    correction,
    frequentist,
    srm_p,
    warehouse,
    state,
    lang,
    as_json,
) -> None:
    from careops.asof import parse_as_of
    from careops.experiments.definition import hospital_time
    from careops.experiments.service import analyze_stored

    context = ops(warehouse, state)
    try:
        outcome = analyze_stored(
            context,
            key,
            metrics,
            as_of=parse_as_of(as_of),
            cuped=cuped,
            control=control,
            correction=correction,
            lang=lang,
            frequentist=frequentist,
            srm_p=srm_p,
        )
    finally:
        context.close()
    if as_json:
        print(json.dumps(outcome.to_dict(lang), ensure_ascii=False, indent=2))
        return
    window = f"{hospital_time(outcome.start, zone=False)} – {hospital_time(outcome.cutoff)}"
    exposed = ", ".join(f"{k} {v:,}" for k, v in outcome.exposed.items())
    out.print(
        f"[bold]{label('experiment', lang)} {outcome.experiment}[/] · "
        f"{label('window', lang)} {window} · {label('exposed', lang)}: {exposed}"
    )
    if outcome.pre_start is not None:
        out.print(
            f"{label('pre_period', lang)}: {hospital_time(outcome.pre_start, zone=False)}"
            f" – {hospital_time(outcome.start)}"
        )
    across = len(outcome.metrics) > 1 and outcome.correction != "none"
    for m in outcome.metrics:
        role = f" · {label('role_' + m.role, lang)}" if m.role else ""
        title = f"{get_metric(m.name).label(lang)} ({m.name}){role}"
        _render(m.analysis, lang, title=title, adjusted=across)
    if across:
        out.print(
            f"{label('correction', lang)}: {outcome.correction} ({label('across_metrics', lang)})"
        )


@app.command()
def power(
    mde: Annotated[float, typer.Option("--mde", help="smallest effect worth detecting")],
    kind: Annotated[
        Literal["proportion", "mean"], typer.Option("--kind", help="metric kind")
    ] = "proportion",
    baseline: Annotated[
        float | None, typer.Option("--baseline", help="control rate (proportion) or mean")
    ] = None,
    sd: Annotated[float | None, typer.Option("--sd", help="per-user SD (mean metrics)")] = None,
    relative: Annotated[
        bool, typer.Option("--relative", help="mde is a fraction of the baseline")
    ] = False,
    alpha: Annotated[float | None, typer.Option("--alpha", help="default from settings")] = None,
    power_: Annotated[float, typer.Option("--power", help="chance to detect the mde")] = 0.8,
    ratio: Annotated[float, typer.Option("--ratio", help="treatment users per control")] = 1.0,
    as_json: JsonOption = False,
    lang: LangOpt = None,
) -> None:
    """Users needed per arm (样本量估算)."""
    from careops.config import get_settings
    from careops.experiments.stats.power import sample_size_means, sample_size_proportions
    from careops.experiments.stats.settings import PowerSettings

    lang = lang_of(lang)
    s = PowerSettings(
        alpha=alpha if alpha is not None else get_settings().experiments.alpha,
        power=power_,
        ratio=ratio,
    )
    if kind == "proportion":
        if baseline is None:
            raise ConfigError("--baseline (the control conversion rate) is required")
        size = sample_size_proportions(baseline, mde, relative, s)
    else:
        if sd is None:
            raise ConfigError("--sd (per-user standard deviation) is required for mean metrics")
        size = sample_size_means(mde, sd, baseline, relative, s)
    absolute = mde * baseline if relative and baseline else mde
    result = {
        "kind": kind,
        "baseline": baseline,
        "target": None if baseline is None else baseline + absolute,
        "mde": mde,
        "relative": relative,
        "mde_absolute": absolute,
        "mde_relative": absolute / baseline if baseline else None,
        "sd": sd if kind == "mean" else None,
        "alpha": s.alpha,
        "power": s.power,
        "sides": 2,
        "ratio": s.ratio,
        "control": size.control,
        "treatment": size.treatment,
        "total": size.total,
        "achieved_power": size.power,
    }
    if as_json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return
    out.print(_power_inputs(result, lang))
    table = Table(title=label("power_title", lang))
    for key in ("per_arm_control", "per_arm_treatment", "total", "achieved_power"):
        table.add_column(label(key, lang), justify="right")
    table.add_row(
        f"{size.control:,}", f"{size.treatment:,}", f"{size.total:,}", f"{size.power:.3f}"
    )
    out.print(table)


def _power_inputs(r: dict, lang: str) -> str:
    """The question `power` answered: baseline → target, MDE, α, power, sides, split."""
    share = r["kind"] == "proportion"

    def value(x: float) -> str:
        return f"{x * 100:.4g}%" if share else f"{x:.4g}"

    parts = []
    if r["baseline"] is not None:
        parts.append(
            f"{label('baseline_to_target', lang)}: {value(r['baseline'])} → {value(r['target'])}"
        )
    unit = (" 个百分点" if lang == "zh" else " pp") if share else ""
    absolute = r["mde_absolute"] * (100 if share else 1)
    parts.append(f"{label('mde_absolute', lang)} {absolute:+.4g}{unit}")
    if r["mde_relative"] is not None:
        parts.append(f"{label('mde_relative', lang)} {r['mde_relative'] * 100:+.4g}%")
    if r["sd"] is not None:
        parts.append(f"{label('sd', lang)} {r['sd']:.4g}")
    parts += [
        f"{label('alpha', lang)} = {r['alpha']:g}",
        f"{label('power', lang)} {r['power'] * 100:.4g}%",
        label("sides", lang),
        f"{label('ratio', lang)} = {r['ratio']:g} : 1",
    ]
    return f"{label('power_inputs', lang)}: " + " · ".join(parts)


StateOption = Annotated[
    str | None,
    typer.Option(
        "--state", help="state store URL (default: beside the warehouse, or the state setting)"
    ),
]
LangOption = LangOpt


def _read_definition(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read the definition ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a definition is a mapping with key, variants, …")
    return data


@app.command()
def create(
    path: Annotated[Path, typer.Argument(help="YAML or JSON definition / 实验定义文件")],
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    lang: LangOption = None,
) -> None:
    """Store a new experiment definition (新建实验): variants, weights, window, metrics.

    The segment must be a saved segment or a valid rule. An experiment whose window is already
    over is stored with a warning (nobody can be exposed to it).
    """
    from careops.experiments.service import create as create_experiment

    lang = lang_of(lang)
    created = _call(create_experiment, warehouse, state, _read_definition(path))
    row = _row(created.experiment, lang)
    out.print(
        f"{label('created', lang)}: [bold]{safe(row['key'])}[/] ({safe(row['variants'])})"
        f" · {row['start']} – {row['end']} {_zone()} · {label('segment', lang)}: "
        f"{safe(row['segment'])}"
    )
    if "window_over" in created.warnings:
        end = row["end"]
        note = (
            f"提示：实验结束时间 {end} 已过，不会再有用户曝光；如需投放请换新 key 并设置新的时间窗"
            if lang == "zh"
            else f"note: the experiment's end {end} has passed; nobody can be exposed to it — "
            "use a new key with a new window to run it"
        )
        err.print(note, style="yellow", highlight=False, soft_wrap=True)


def _zone() -> str:
    from careops.config import get_settings

    return get_settings().timezone


def _row(experiment, lang: str) -> dict[str, str]:
    """A stored experiment's cells: times as the hospital's wall clock, its status."""
    from careops.experiments.definition import hospital_time

    segment = experiment.segment
    return {
        "key": experiment.key,
        "variants": ", ".join(f"{v.name} {v.weight:.0%}" for v in experiment.variants),
        "segment": label("everyone", lang) if segment is None else segment,
        "start": hospital_time(experiment.start, zone=False)
        if experiment.start
        else label("open", lang),
        "end": hospital_time(experiment.end, zone=False) if experiment.end else label("open", lang),
        "primary": ", ".join(experiment.primary_metrics),
        "status": label(f"status_{experiment.status}", lang),
    }


@app.command("list")
def list_experiments(
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Stored experiments (实验列表); times in the hospital timezone."""
    from careops.experiments.service import list_experiments as listed

    lang = lang_of(lang)
    experiments = _call(listed, warehouse, state)
    if as_json:
        print_json([_local_dict(e) for e in experiments])
        return
    zone = _zone()
    table = Table(title=label("list_title", lang))
    for key in ("key", "status", "variants", "segment", "start", "end", "primary"):
        title = label(key, lang) + (f"\n({zone})" if key in ("start", "end") else "")
        table.add_column(title, no_wrap=key in ("key", "status", "start", "end"))
    for e in experiments:
        row = _row(e, lang)
        table.add_row(
            *(
                safe(row[k])
                for k in ("key", "status", "variants", "segment", "start", "end", "primary")
            )
        )
    out.print(table)


def _local_dict(experiment) -> dict:
    """The public form with start/end as ISO times in the hospital timezone (same instants)."""
    from careops.config import get_settings

    tz = get_settings().tz
    data = experiment.model_dump(mode="json")
    for key in ("start", "end", "created_at"):
        value = getattr(experiment, key)
        data[key] = value.astimezone(tz).isoformat() if value else None
    return data | {"timezone": get_settings().timezone}


@app.command()
def stop(
    key: Annotated[str, typer.Argument(help="the experiment's key / 实验 key")],
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    lang: LangOption = None,
) -> None:
    """End a running experiment now (停止实验): its end becomes now; audited."""
    from careops.experiments.service import stop as stop_experiment

    lang = lang_of(lang)
    row = _row(_call(stop_experiment, warehouse, state, key), lang)
    out.print(
        f"{label('stopped', lang)}: [bold]{safe(key)}[/] · {label('end', lang)} "
        f"{row['end']} {_zone()} ({label('audited', lang)})"
    )


@app.command()
def delete(
    key: Annotated[str, typer.Argument(help="the experiment's key / 实验 key")],
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    lang: LangOption = None,
) -> None:
    """Delete an experiment nobody was exposed to (删除实验, e.g. a test); audited."""
    from careops.experiments.service import delete as delete_experiment

    lang = lang_of(lang)
    _call(delete_experiment, warehouse, state, key)
    out.print(f"{label('deleted', lang)}: [bold]{safe(key)}[/] ({label('audited', lang)})")


def _read_user_file(path: Path) -> list[str]:
    """User ids from a file: a CSV/Parquet with a user_id column, else one id per line."""
    from careops.errors import InputError

    if not path.is_file():
        raise InputError(f"文件不存在 / --users {path}: no such file")
    if path.suffix.lower() in {".parquet", ".pq", ".csv"}:
        from careops.experiments.rows import read_users

        table = read_users(path) if path.suffix.lower() != ".csv" else _csv_text(path)
        if "user_id" not in table.column_names:
            raise InputError(
                f"{path.name}：缺少 user_id 列 / has no user_id column; columns "
                f"are {', '.join(table.column_names)}"
            )
        return [str(v) if v is not None else "" for v in table.column("user_id").to_pylist()]
    try:
        lines = path.read_text(encoding="utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"无法读取 / cannot read {path}: {exc}") from None
    return [line.strip() for line in lines if line.strip()]


def _csv_text(path: Path):
    import csv as pycsv

    import pyarrow as pa
    from pyarrow import csv

    from careops.errors import InputError

    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(pycsv.reader(f), [])
        table = csv.read_csv(
            path, convert_options=csv.ConvertOptions(column_types={n: pa.string() for n in header})
        )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError) as exc:
        raise InputError(f"无法读取 / cannot read {path}: {exc}") from None
    return table.rename_columns([n.lstrip("\ufeff").strip() for n in table.column_names])


@app.command()
def expose(
    key: Annotated[str, typer.Argument(help="the experiment's key / 实验 key")],
    user: Annotated[
        list[str] | None, typer.Option("--user", help="a user id (repeatable) / 用户 ID")
    ] = None,
    users: Annotated[
        Path | None,
        typer.Option("--users", help="file of user ids: one per line, or CSV/Parquet with user_id"),
    ] = None,
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Assign users to variants and log their exposure now (记录曝光), once per user.

    Uses the experiment's deterministic assignment; users in the global control group, or
    outside its targeting segment, are not exposed. Prints each user's variant.
    """
    from careops.experiments.service import Outcome
    from careops.experiments.service import expose as expose_users

    lang = lang_of(lang)
    ids = list(user or []) + (_read_user_file(users) if users is not None else [])
    if not ids:
        raise ConfigError("give users with --user U1 --user U2 … or --users FILE")
    result = _call(expose_users, warehouse, state, key, ids)
    if as_json:
        print_json(
            {
                "experiment": result.experiment,
                "exposed_at": result.at.isoformat(),
                "users": [
                    {"user_id": u.user_id, "variant": u.variant, "outcome": u.outcome}
                    for u in result.users
                ],
            }
        )
        return
    zh = lang == "zh"
    table = Table(title=f"{label('experiment', lang)} {safe(key)} · {'曝光' if zh else 'exposure'}")
    table.add_column("用户" if zh else "user")
    table.add_column(label("variant", lang))
    table.add_column("结果" if zh else "outcome")
    for u in result.users:
        table.add_row(safe(u.user_id), safe(u.variant or "—"), label(f"outcome.{u.outcome}", lang))
    out.print(table)
    counts = ", ".join(
        f"{label(f'outcome.{o}', lang)} {result.count(o):,}"
        for o in get_args(Outcome)
        if result.count(o)
    )
    out.print(counts)


@app.command("import-exposures")
def import_exposures(
    key: Annotated[str, typer.Argument(help="the experiment's key / 实验 key")],
    file: Annotated[
        Path, typer.Argument(help="CSV or Parquet with user_id, variant, exposed_at / 曝光文件")
    ],
    state: StateOption = None,
    warehouse: WarehouseOpt = None,
    as_json: JsonOption = False,
    lang: LangOption = None,
) -> None:
    """Import exposures logged elsewhere (导入曝光): every row is checked first and a bad file
    imports nothing; rows already stored are skipped, so importing twice is safe."""
    from careops.experiments.service import import_exposures as run_import

    lang = lang_of(lang)
    result = _call(run_import, warehouse, state, key, file)
    if as_json:
        print_json(
            {
                "experiment": result.experiment,
                "rows": result.rows,
                "inserted": result.inserted,
                "already": result.already,
                "by_variant": result.by_variant,
            }
        )
        return
    split = ", ".join(f"{safe(v)} {n:,}" for v, n in result.by_variant.items()) or "—"
    if lang == "zh":
        out.print(
            f"已导入 {safe(key)}：{result.rows:,} 行，"
            f"新增曝光 {result.inserted:,}（{split}），"
            f"此前已有 {result.already:,}（{label('audited', lang)}）"
        )
    else:
        out.print(
            f"imported into {safe(key)}: {result.rows:,} rows, {result.inserted:,} new "
            f"exposures ({split}), {result.already:,} already stored "
            f"({label('audited', lang)})"
        )
