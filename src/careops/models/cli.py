"""`careops models list|show` — the model registry (a shell module over
`careops.models.churn.service`'s registry functions)."""

from __future__ import annotations

from typing import Annotated

import typer

from careops.cliutil import JsonOpt, WarehouseOpt, ops, out, print_json, rich_table, safe

models_app = typer.Typer(
    help="模型登记 Model registry: trained models with as-of date, data and evaluation.",
    no_args_is_help=True,
    add_completion=False,
)


@models_app.command("list")
def list_(
    kind: Annotated[
        str | None, typer.Option("--kind", help="模型类型, 如 churn / model kind")
    ] = None,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """列出已登记的模型 / List the registered models, newest first."""
    from careops.models.churn.service import list_models

    models = list_models(ops(warehouse), kind)
    if as_json:
        print_json([m.to_dict() for m in models])
        return
    out.print(
        rich_table(
            f"已登记模型 / registered models ({len(models)})",
            ["编号 model id", "类型 kind", "截至 as of", "训练时间 trained at", "AUC (校准折)"],
            [
                [
                    m.model_id,
                    m.kind,
                    m.as_of,
                    m.trained_at,
                    _auc(m.evaluation),
                ]
                for m in models
            ],
        )
    )


def _auc(evaluation: dict) -> str:
    auc = evaluation.get("calibration_fold", {}).get("model", {}).get("auc")
    return "—" if auc is None else f"{auc:.3f}"


@models_app.command("show")
def show(
    model_id: Annotated[str, typer.Argument(help="模型编号 / model id")],
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """查看模型详情 / Show a model: as-of date, data fingerprint, settings, versions, evaluation."""
    from careops.models.churn.service import show_model

    meta = show_model(ops(warehouse), model_id)
    if as_json:
        print_json(meta.to_dict())
        return
    out.print(
        f"[bold]{safe(meta.model_id)}[/] ({safe(meta.kind)}, 格式 format {meta.format_version})"
    )
    out.print(f"截至 as of {meta.as_of}; 训练于 trained at {meta.trained_at}")
    fp = meta.fingerprint
    out.print(
        rich_table(
            f"数据指纹 / data fingerprint (cut-off {fp.get('cutoff')}, "
            f"{len(fp.get('loads', []))} 次导入 loads)",
            ["表 table", "行数 rows"],
            [[k, v] for k, v in fp.get("rows", {}).items()],
        )
    )
    out.print(
        rich_table(
            "设置与版本 / settings and libraries",
            ["", ""],
            [[k, v] for k, v in {**meta.settings, **meta.libraries}.items() if k != "lightgbm"],
        )
    )
    ev = meta.evaluation
    for name, card in ev.get("calibration_fold", {}).items():
        out.print(
            f"{safe(name)}: AUC {card.get('auc')}, PR-AUC {card.get('pr_auc')}, "
            f"ECE {card.get('ece')} (校准折 calibration fold {ev.get('calibration_date')})"
        )
