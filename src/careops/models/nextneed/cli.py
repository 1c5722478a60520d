"""`careops nextneed rules|train|score|show` — a thin shell over
`careops.models.nextneed.service`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from careops.asof import parse_as_of
from careops.cliutil import (
    JsonOpt,
    StoreOpt,
    WarehouseOpt,
    check_table_out,
    ops,
    out,
    print_json,
    rich_table,
    safe,
)

nextneed_app = typer.Typer(
    help="下一步需求 Next needs: editable rules and mined association rules, as a tag.",
    no_args_is_help=True,
    add_completion=False,
)

AsOfOpt = Annotated[
    str, typer.Option("--as-of", help="YYYY-MM-DD: 只用此日前的数据 / facts before")
]
ModelOpt = Annotated[
    str | None, typer.Option("--model", help="模型编号 (默认最新可用) / model id (default: newest)")
]
RulesOpt = Annotated[
    Path | None, typer.Option("--rules", help="自己的规则文件 .yaml / your own rule file")
]


@nextneed_app.command("rules")
def rules_(rules_file: RulesOpt = None, as_json: JsonOpt = False) -> None:
    """查看规则 / Show (and validate) the written next-need rules."""
    from careops.models.nextneed.rules import load_rules

    r = load_rules(str(rules_file) if rules_file else None)
    if as_json:
        print_json([x.model_dump() for x in r.rules])
        return
    out.print(
        rich_table(
            f"下一步需求规则 / next-need rules ({safe(r.source)})",
            ["need", "名称 label", "条件 when", "天内 within", "优先级 priority"],
            [
                [
                    x.need,
                    x.label,
                    ", ".join(f"{k}:{v}" for k, v in x.when.codes()),
                    x.within_days or "—",
                    x.priority,
                ]
                for x in r.rules
            ],
        )
    )


@nextneed_app.command("train")
def train(as_of: AsOfOpt, as_json: JsonOpt = False, warehouse: WarehouseOpt = None) -> None:
    """挖掘并登记关联规则 / Mine association rules from facts before a date and register them."""
    from careops.models.nextneed.service import train as run

    meta = run(ops(warehouse), parse_as_of(as_of))
    if as_json:
        print_json(meta.to_dict())
        return
    ev = meta.evaluation
    out.print(
        f"[bold]已登记 / registered[/] {safe(meta.model_id)}: {ev['data']['rules']} 条规则 rules "
        f"from {ev['data']['patients']} 位患者 patients"
    )
    b = ev["backtest"]
    if "hit_rate" in b:
        out.print(
            f"回测 / backtest {b['as_of']} +{b['check_days']} 天: 命中率 hit rate {b['hit_rate']} "
            f"vs 基线 base rate {b['base_rate']} (提升 lift {b['lift']}, {b['predictions']} "
            f"条预测 predictions, {b['patients_with_need']} 位患者 patients)"
        )


@nextneed_app.command("score")
def score(
    as_of: AsOfOpt,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="每位患者的结果 .csv/.parquet / per-patient file")
    ] = None,
    model: ModelOpt = None,
    rules_file: RulesOpt = None,
    store: StoreOpt = False,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """每位患者的下一步需求 (next_need 标签) / Each patient's next need (the next_need tag)."""
    from careops.models.nextneed.rules import load_rules
    from careops.models.nextneed.service import next_need_table

    check_table_out(out_file)
    rules = load_rules(str(rules_file)) if rules_file else None
    o = ops(warehouse)
    r = next_need_table(o, parse_as_of(as_of), model_id=model, rules=rules)
    if store:
        from careops.models.nextneed.service import store as store_needs

        store_needs(o, r)
    if out_file is not None:
        from careops.models.nextneed.service import export

        export(o, r, out_file)
    summary = r.summary() | ({"out": str(out_file)} if out_file else {})
    if as_json:
        print_json(summary)
        return
    out.print(
        rich_table(
            f"下一步需求 / next needs 截至 as of {r.as_of} (模型 model {safe(r.model_id or '—')}): "
            f"{summary['patients_with_need']} 位患者 patients",
            ["need", "人数 patients"],
            list(summary["by_need"].items()),
        )
    )


@nextneed_app.command("show")
def show(
    user_id: Annotated[str, typer.Argument(help="患者编号 / patient id")],
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="YYYY-MM-DD, 默认今天 / default today")
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """一位患者的全部需求 / All needs of one patient, best first, with reasons."""
    from careops.models.nextneed.service import next_need_table

    r = next_need_table(ops(warehouse), parse_as_of(as_of), user_ids=[user_id], model_id=model)
    needs = r.details.get(user_id, [])
    if as_json:
        print_json(
            {
                "user_id": user_id,
                "as_of": r.as_of.isoformat(),
                "needs": [n.to_dict() for n in needs],
            }
        )
        return
    out.print(
        rich_table(
            f"{safe(user_id)} 的下一步需求 / next needs (截至 as of {r.as_of})",
            ["need", "名称 label", "理由 reason", "来源 source"],
            [[n.need, n.label, n.reason, n.source] for n in needs],
        )
    )
