"""`careops churn train|score|evaluate` — a thin shell over `careops.models.churn.service`
(a shell module: named cli.py so the architecture test treats it as one)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from careops.asof import parse_as_of
from careops.cliutil import (
    JsonOpt,
    LangOpt,
    StoreOpt,
    WarehouseOpt,
    check_table_out,
    lang_of,
    ops,
    out,
    print_json,
    rich_table,
    safe,
)
from careops.errors import InvalidInput

churn_app = typer.Typer(
    help="流失预测 Churn: who goes quiet within 7 days, with reasons (LightGBM, calibrated).",
    no_args_is_help=True,
    add_completion=False,
)

AsOfOpt = Annotated[
    str, typer.Option("--as-of", help="YYYY-MM-DD: 只用此日前的数据 / facts before")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="模型编号 (默认最新可用) / model id (default: newest)")
]


def _f(v: float | None, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


@churn_app.command("train")
def train(as_of: AsOfOpt, as_json: JsonOpt = False, warehouse: WarehouseOpt = None) -> None:
    """训练并登记流失模型 / Train a churn model from facts before a date and register it."""
    from careops.models.churn.service import train as run

    meta = run(ops(warehouse), parse_as_of(as_of))
    if as_json:
        print_json(meta.to_dict())
        return
    ev = meta.evaluation
    cal = ev["calibration_fold"]
    out.print(
        f"[bold]已登记模型 / registered[/] {safe(meta.model_id)} (截至 as of {meta.as_of}; "
        f"训练日期 training dates {', '.join(ev['training_dates'])}; 早停 early stopping "
        f"{ev['early_stopping_date']}; 校准 calibration {ev['calibration_date']}; "
        f"{ev['best_iteration']} 棵树 trees)"
    )
    out.print(
        rich_table(
            f"校准折 / calibration fold {ev['calibration_date']} (校准样本内 in-sample for the "
            "calibration; 独立评估请用 `careops churn evaluate`)",
            ["", "AUC", "PR-AUC", "ECE", "前10%提升 top-decile lift"],
            [
                [k, _f(v["auc"]), _f(v["pr_auc"]), _f(v["ece"]), _f(v["top_decile_lift"], 2)]
                for k, v in cal.items()
            ],
        )
    )


@churn_app.command("score")
def score(
    as_of: AsOfOpt,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="每位患者的结果 .csv/.parquet / per-patient file")
    ] = None,
    model: ModelOpt = None,
    store: StoreOpt = False,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """为在用患者评流失分 / Score the churn risk (0–100) and top reasons of every patient."""
    from careops.models.churn.service import score as run

    check_table_out(out_file)
    result = run(ops(warehouse), parse_as_of(as_of), model_id=model, out=out_file, store=store)
    summary = result.summary() | ({"out": str(out_file)} if out_file else {})
    summary |= {"stored_as_tags": store}
    if as_json:
        print_json(summary)
        return
    out.print(
        f"[bold]流失风险 / churn risk[/] 截至 as of {result.as_of}, 模型 model "
        f"{safe(result.model_id)}: {summary['patients']} 位在用患者 patients"
    )
    out.print(
        rich_table(
            "分数段 / score bands", ["分数 score", "人数 patients"], list(summary["bands"].items())
        )
    )
    t = result.table
    top = t.take(np.argsort(-t.column("churn_probability").to_numpy(), kind="stable")[:10])
    out.print(
        rich_table(
            "风险最高的 10 位 / top 10",
            ["user_id", "churn_score", "原因 reasons"],
            [[r["user_id"], r["churn_score"], r["reasons"]] for r in top.to_pylist()],
        )
    )
    if out_file:
        out.print(f"已写入 / written: {safe(out_file)} ({t.num_rows} 行 rows)")
    if store:
        out.print(
            f"已存为智能标签 / stored as smart tags churn_score, churn_reasons as of {result.as_of}"
        )


@churn_app.command("evaluate")
def evaluate(
    as_of: AsOfOpt,
    model: ModelOpt = None,
    sim: Annotated[
        Path | None,
        typer.Option("--sim", help="模拟器输出目录: 对照真值与 oracle / simulator output folder"),
    ] = None,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="评估结果 .json (另写同名 .html 图表页)")
    ] = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """评估流失模型 / Evaluate a churn model: AUC, PR-AUC, ECE, lift vs recency and oracle."""
    from careops.models.churn.service import evaluate as run

    if out_file is not None and out_file.suffix.lower() != ".json":
        raise InvalidInput(f"--out {out_file.name[:60]!r}: 请用 .json / write a .json file")
    ev = run(ops(warehouse), parse_as_of(as_of), model_id=model, sim_dir=sim, out=out_file)
    if as_json:
        print_json(ev.to_dict())
        return
    out.print(
        f"[bold]流失模型评估 / churn evaluation[/] 截至 as of {ev.as_of}, 模型 model "
        f"{safe(ev.model_id)}, {ev.horizon_days} 天内 within, {ev.patients} 位在用患者 patients"
    )
    for title, cards in (
        ("可观察标签 / observed label", ev.observed),
        ("模拟器真值 / simulator truth", ev.truth),
    ):
        if cards:
            first = next(iter(cards.values()))
            out.print(
                rich_table(
                    f"{title}: n = {first.n}, 流失率 churn rate {first.base_rate:.3f}",
                    ["", "AUC", "PR-AUC", "ECE", "前10%提升 top-decile lift"],
                    [
                        [k, _f(c.auc), _f(c.pr_auc), _f(c.ece), _f(c.top_decile_lift, 2)]
                        for k, c in cards.items()
                    ],
                )
            )
    for note in ev.notes:
        out.print(f"[yellow]{safe(note)}[/]")
    if out_file:
        out.print(f"已写入 / written: {safe(out_file)}")


@churn_app.command("reasons")
def reasons(
    as_of: AsOfOpt,
    user: Annotated[
        str | None,
        typer.Option("--user", help="单个患者: 分数、主因与各特征贡献 / one patient's reasons"),
    ] = None,
    min_score: Annotated[
        int, typer.Option("--min-score", min=0, max=100, help="高风险: 流失分至少 / at risk from")
    ] = 50,
    weeks: Annotated[
        int,
        typer.Option("--weeks", min=1, max=26, help="诊断最近几周的流失者 / weeks"),
    ] = 4,
    sim: Annotated[
        Path | None,
        typer.Option("--sim", help="模拟器输出目录: 对照真实流失原因 / simulator output folder"),
    ] = None,
    out_file: Annotated[Path | None, typer.Option("--out", help="诊断结果 .json")] = None,
    model: ModelOpt = None,
    lang: LangOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """流失原因诊断 / Churn reasons: drivers of the at-risk and of leavers, or one patient."""
    from careops.models.churn import reasons_view as view
    from careops.models.churn.service import patient_reasons, reasons_report

    lg = lang_of(lang)
    if out_file is not None and out_file.suffix.lower() != ".json":
        raise InvalidInput(f"--out {out_file.name[:60]!r}: 请用 .json / write a .json file")
    if user is not None:
        if sim is not None or out_file is not None:
            raise InvalidInput(
                "--user 不能与 --sim/--out 同用 / --user shows one patient: drop --sim and --out"
            )
        p = patient_reasons(ops(warehouse), parse_as_of(as_of), user, model_id=model)
        if as_json:
            print_json(p.to_dict())
            return
        v = view.patient_view(p, lg)
        out.print(rich_table(safe(v.title), v.columns, [[safe(c) for c in r] for r in v.rows]))
        out.print("; ".join(safe(r) for r in p.reasons) or "—")
        return
    report = reasons_report(
        ops(warehouse),
        parse_as_of(as_of),
        model_id=model,
        min_score=min_score,
        weeks=weeks,
        sim_dir=sim,
        out=out_file,
    )
    if as_json:
        print_json(report.to_dict())
        return
    out.print(
        f"[bold]流失原因诊断 / churn reasons[/] 截至 as of {report.as_of}, 模型 model "
        f"{safe(report.model_id)}; 高风险 at risk: churn_score >= {report.min_score}"
        + (
            f"; 流失患者 leavers: 最后活跃于 last active {report.churned_window[0]} – "
            f"{report.churned_window[1]}"
            if report.churned_window
            else ""
        )
    )
    for v in view.report_views(report, lg):
        out.print(rich_table(safe(v.title), v.columns, [[safe(c) for c in r] for r in v.rows]))
    for note in report.notes:
        out.print(f"[yellow]{safe(note)}[/]")
    if out_file:
        out.print(f"已写入 / written: {safe(out_file)}")
