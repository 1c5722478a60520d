"""`careops triage train|evaluate` — a thin shell over `careops.triage.supervised` and
`careops.triage.evaluate`, added to the triage Typer app by `register(app)`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careops.asof import parse_as_of
from careops.cliutil import JsonOpt, WarehouseOpt, err, ops, out, print_json, rich_table, safe

AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="YYYY-MM-DD: 只用此日前的数据 (默认今天) / facts before"),
]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{100 * v:.1f}%"


def train(as_of: AsOfOpt = None, as_json: JsonOpt = False, warehouse: WarehouseOpt = None) -> None:
    """训练并登记分诊模型 / Learn department triage from past consultations' complaints."""
    from careops.triage.supervised import train as run

    meta = run(ops(warehouse), parse_as_of(as_of))
    if as_json:
        print_json(meta.to_dict())
        return
    ev = meta.evaluation
    tr = ev["training"]
    out.print(
        f"[bold]已登记分诊模型 / registered[/] {safe(meta.model_id)} (截至 as of {meta.as_of}; "
        f"{tr['consultations']} 条问诊 consultations, {tr['distinct']} 条不同主诉 distinct "
        f"complaints, {len(ev['departments'])} 个科室 departments)"
    )
    ts = ev.get("time_split")
    if ts:
        out.print(
            rich_table(
                f"时间切分检验 / time split: 训练 {ts['split'][:10]} 前, 检验其后",
                ["问诊 n", "不同主诉 distinct", "top-1", "top-3", "宏召回 macro recall"],
                [
                    [
                        ts["n"],
                        ts["distinct_texts"],
                        _pct(ts["top1"]),
                        _pct(ts["top3"]),
                        _pct(ts["macro_recall"]),
                    ]
                ],
            )
        )
    else:
        out.print("无时间切分检验 (留出期无数据) / no time-split check: no data in the holdout")


def evaluate(
    file: Annotated[Path, typer.Argument(help='JSON Lines: {"text", "department"} 每行一条')],
    departments: Annotated[
        Path | None,
        typer.Option("--departments", help="科室目录, 每行一个 (名称<TAB>描述) / catalogue file"),
    ] = None,
    ranker: Annotated[
        str, typer.Option("--ranker", help="majority | supervised | zero_shot | blend")
    ] = "supervised",
    model: Annotated[
        str | None, typer.Option("--model", help="模型编号 (默认最新可用) / model id")
    ] = None,
    cv: Annotated[
        int | None,
        typer.Option("--cv", help="K 折交叉验证 supervised/blend (用本文件训练) / K-fold on FILE"),
    ] = None,
    as_of: AsOfOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """评估分诊排序 / Score a ranker on labelled questions: top-1, top-3, recall, confusion."""
    from careops.triage.evaluate import evaluate_file

    ctx_ops = ops(warehouse) if ranker in ("supervised", "blend") and cv is None else None
    day = parse_as_of(as_of) if as_of is not None else None
    report = evaluate_file(
        ctx_ops,
        file,
        departments=departments,
        ranker=ranker,
        as_of=day,
        model_id=model,
        folds=cv,
    )
    for p in report.problems:
        err.print(f"[yellow]第 {p.line} 行 / line {p.line}:[/] {safe(p.reason)}", highlight=False)
    if as_json:
        print_json(report.to_dict())
        return
    out.print(
        f"[bold]{safe(report.ranker)}[/]: {report.n} 条问题 questions, "
        f"{len(report.departments)} 个科室 departments; top-1 {_pct(report.top1)}, "
        f"top-3 {_pct(report.top3)}, 宏召回 macro recall {_pct(report.macro_recall)} "
        f"(最多科室占比 majority {_pct(report.majority_share)}); "
        + (f"{report.throughput_qps:g} 条/秒 q/s" if report.throughput_qps else "")
    )
    out.print(
        rich_table(
            "各科室 / per department",
            ["科室 department", "n", "召回 recall", "top-3", "最常判为 most often ranked first"],
            [
                [
                    d,
                    v["n"],
                    _pct(v["recall"]),
                    _pct(v["top3"]),
                    ", ".join(f"{k} {c}" for k, c in list(report.confusion[d].items())[:3]),
                ]
                for d, v in report.per_department.items()
            ],
        )
    )
    for note in report.notes:
        out.print(f"注 / note: {safe(note)}")
    if report.problems:
        out.print(f"{len(report.problems)} 行未使用 / lines left out (见上 / listed above)")


def register(app: typer.Typer) -> None:
    """Add `train` and `evaluate` to the triage app."""
    app.command("train")(train)
    app.command("evaluate")(evaluate)
