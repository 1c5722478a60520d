"""`careops recommend USER_ID | train | evaluate` — a thin shell over
`careops.models.recommend.service`. A first word that is not a subcommand is a patient id
(`careops recommend U00000012 --kind content`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from typer.core import TyperGroup

from careops.asof import parse_as_of
from careops.cliutil import JsonOpt, WarehouseOpt, ops, out, print_json, rich_table, safe

FOR = "for"


class _PatientFirst(TyperGroup):
    """`recommend X ...` runs `recommend for X ...` unless X is a subcommand."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = [FOR, *args]
        return super().parse_args(ctx, args)


recommend_app = typer.Typer(
    cls=_PatientFirst,
    help="个性化推荐 Recommendations: services, packages, content and doctors per patient "
    "(ALS, medical rules, reasons).",
    epilog="careops recommend USER_ID [--kind service|package|content|doctor] [--top N] "
    "[--as-of D] [--json] · careops recommend train --as-of D · careops recommend evaluate "
    "--as-of D [--json] · careops recommend report --as-of D --out x.html [--lang en]",
    no_args_is_help=True,
    add_completion=False,
)

AsOfOpt = Annotated[
    str, typer.Option("--as-of", help="YYYY-MM-DD: 只用此日前的数据 / facts before")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="模型编号 (默认最新可用) / model id (default: newest)")
]


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


@recommend_app.command(FOR, hidden=True)
def for_patient(
    user_id: Annotated[str, typer.Argument(help="患者编号 / patient id")],
    kind: Annotated[
        str | None,
        typer.Option("--kind", help="service|package|content|doctor (默认全部 / default all)"),
    ] = None,
    top: Annotated[int, typer.Option("--top", help="条数 / how many (1–100)")] = 10,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD, 默认今天 / default today")
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """为患者推荐 / Recommend items to one patient, each with a reason."""
    from careops.models.recommend.service import recommend

    r = recommend(ops(warehouse), user_id, parse_as_of(as_of), kind=kind, top=top, model_id=model)
    if as_json:
        print_json(r.to_dict())
        return
    out.print(
        rich_table(
            f"为 {safe(r.user_id)} 推荐 / recommendations (截至 as of {r.as_of}, 模型 model "
            f"{safe(r.model_id)})",
            ["#", "类型 kind", "编号 id", "名称 name", "科室 department", "理由 reason"],
            [[i.rank, i.kind, i.item_id, i.name, i.department, i.reason] for i in r.items],
        )
    )


@recommend_app.command("train")
def train(as_of: AsOfOpt, as_json: JsonOpt = False, warehouse: WarehouseOpt = None) -> None:
    """训练并登记推荐模型 / Train a recommendation model from facts before a date."""
    from careops.models.recommend.service import train as run

    meta = run(ops(warehouse), parse_as_of(as_of))
    if as_json:
        print_json(meta.to_dict())
        return
    d = meta.evaluation["data"]
    out.print(
        f"[bold]已登记模型 / registered[/] {safe(meta.model_id)} (截至 as of {meta.as_of}; "
        f"{d['patients']} 位患者 patients, {d['items']} 个项目 items, {d['interactions']} "
        "个互动 interactions)"
    )
    h = meta.evaluation.get("holdout", {})
    if "warm" in h:
        out.print(
            f"留出检验 / holdout {h['as_of']}–{h['test_end']}: NDCG@10 "
            f"{_f(h['warm']['all']['model']['ndcg'])} vs 热门 popularity "
            f"{_f(h['warm']['all']['popularity']['ndcg'])}"
        )


@recommend_app.command("evaluate")
def evaluate(
    as_of: AsOfOpt, model: ModelOpt = None, as_json: JsonOpt = False, warehouse: WarehouseOpt = None
) -> None:
    """评估推荐模型 / Precision, recall, NDCG@10 on a time split, beside popularity."""
    from careops.models.recommend.service import evaluate as run

    ev = run(ops(warehouse), parse_as_of(as_of), model_id=model)
    if as_json:
        print_json(ev.to_dict())
        return
    rows = []
    for kind, cards in ev.warm.items():
        for name, c in cards.items():
            rows.append([kind, name, c.patients, _f(c.precision), _f(c.recall), _f(c.ndcg)])
    for name, c in ev.cold.items():
        rows.append(["新患者 new", name, c.patients, _f(c.precision), _f(c.recall), _f(c.ndcg)])
    out.print(
        rich_table(
            f"推荐评估 / evaluation {ev.as_of} → {ev.test_end} (模型 model {safe(ev.model_id)}; "
            f"NDCG@{ev.k} 是热门的 {ev.ratio_ndcg} 倍 / × popularity)",
            ["类型 kind", "方法 method", "患者 patients", f"P@{ev.k}", f"R@{ev.k}", f"NDCG@{ev.k}"],
            rows,
        )
    )


@recommend_app.command("report")
def report(
    as_of: AsOfOpt,
    out_path: Annotated[
        Path, typer.Option("--out", help="HTML 文件 / the .html file to write")
    ] = Path("recommend-report.html"),
    lang: Annotated[str | None, typer.Option("--lang", help="zh (默认 default) 或 or en")] = None,
    sample: Annotated[
        int, typer.Option("--sample", help="抽样患者数 / patients sampled (100–200000)")
    ] = 20_000,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """推荐报告 / HTML report: coverage, quality per kind vs popularity, rule blocks, examples."""
    from careops.errors import InvalidInput
    from careops.metrics.cli import parse_lang
    from careops.models.recommend.report import write_html
    from careops.models.recommend.service import report as run

    language = parse_lang(lang)
    if out_path.suffix.lower() not in (".html", ".htm"):
        raise InvalidInput(
            f"--out {out_path.name[:60]!r}: 请用 .html 文件 / write an .html file", field="out"
        )
    rep = run(ops(warehouse), parse_as_of(as_of), model_id=model, sample=sample)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    path = write_html(rep, out_path, language)
    if as_json:
        print_json(rep.to_dict() | {"out": str(path)})
        return
    out.print(f"推荐报告已写入 / recommendation report written: {safe(path)}")
