"""`careops clv fit|score` — a thin shell over `careops.models.clv.service` (a shell module:
named cli.py so the architecture test treats it as one)."""

from __future__ import annotations

from datetime import date
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
from careops.errors import InvalidInput

clv_app = typer.Typer(
    help="客户终身价值 Lifetime value: BG/NBD + Gamma-Gamma (fit on any log, score patients).",
    no_args_is_help=True,
    add_completion=False,
)

TIER_LABELS = {
    "ltv_high": "高LTV(>¥1000)",
    "ltv_mid": "中LTV(¥300–1000)",
    "ltv_low": "低LTV(<¥300)",
}
BAND_LABELS = {"ideal": "理想 ideal (>3)", "healthy": "健康 healthy (>1)", "low": "偏低 low (≤1)"}


def _day(flag: str, text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InvalidInput(
            f"{flag} {text[:40]!r} 不是日期 / is not a date: expected YYYY-MM-DD"
        ) from None


def _num(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:,.{digits}f}"


@clv_app.command("fit")
def fit(
    transactions: Annotated[
        Path, typer.Option("--transactions", help="交易文件 CSV/TSV/Parquet / transaction log")
    ],
    customer_col: Annotated[
        str, typer.Option("--customer-col", help="客户编号列 / customer id column")
    ],
    date_col: Annotated[str, typer.Option("--date-col", help="日期列 / purchase date column")],
    calibration_end: Annotated[
        str,
        typer.Option(
            "--calibration-end", help="校准期最后一天(含) / last calibration day, inclusive"
        ),
    ],
    amount_col: Annotated[
        str | None, typer.Option("--amount-col", help="金额列 (拟合 Gamma-Gamma) / amount column")
    ] = None,
    date_format: Annotated[
        str | None, typer.Option("--date-format", help="strptime 格式, 如 %Y%m%d (默认 ISO)")
    ] = None,
    holdout_end: Annotated[
        str | None, typer.Option("--holdout-end", help="留出期最后一天(含) / last holdout day")
    ] = None,
    unit: Annotated[str, typer.Option("--unit", help="时间单位 week|day")] = "week",
    as_json: JsonOpt = False,
) -> None:
    """拟合 BG/NBD (+Gamma-Gamma) / Fit BG/NBD (+ Gamma-Gamma) on a transaction log."""
    from careops.models.clv.service import fit_file

    if unit not in ("week", "day"):
        raise InvalidInput(f"--unit {unit[:20]!r}: 应为 week 或 day / expected week or day")
    report = fit_file(
        ops(),
        transactions,
        customer_col=customer_col,
        date_col=date_col,
        amount_col=amount_col,
        date_format=date_format,
        calibration_end=_day("--calibration-end", calibration_end),
        holdout_end=_day("--holdout-end", holdout_end),
        unit=unit,  # type: ignore[arg-type]
    )
    if as_json:
        print_json(report.to_dict())
        return
    rows = [[k, _num(v, 4)] for k, v in report.params.items()]
    rows.append(["log-likelihood (BG/NBD)", _num(report.log_likelihood, 2)])
    out.print(
        rich_table(
            f"BG/NBD 参数 / parameters — {report.customers} 客户 customers, "
            f"{report.repeat_customers} 复购 repeat, 单位 unit = {report.unit}, "
            f"{report.first_day} … {report.calibration_end}",
            ["参数 parameter", "值 value"],
            rows,
        )
    )
    if report.spend:
        s = report.spend
        out.print(
            f"Gamma-Gamma: {s.customers} 位复购客户 / repeat customers, 平均客单价 mean spend "
            f"{_num(s.mean_spend, 2)}, 频次-金额相关 frequency–spend r = "
            f"{s.frequency_spend_correlation:.3f}"
        )
    if report.holdout:
        h = report.holdout
        out.print(
            rich_table(
                f"留出期 / holdout {report.calibration_end} … {report.holdout_end} "
                f"({h.length:g} {report.unit}, {h.customers} 客户 customers)",
                ["", "BG/NBD", "朴素基线 naive (x/T)", "实际 actual"],
                [
                    [
                        "复购合计 / total repeat purchases",
                        _num(h.predicted_total, 1),
                        _num(h.naive_total, 1),
                        str(h.actual_total),
                    ],
                    ["平均绝对误差 / MAE per customer", _num(h.mae, 4), _num(h.naive_mae, 4), ""],
                ],
            )
        )
    for note in report.notes:
        out.print(f"[yellow]{safe(note)}[/]")


@clv_app.command("score")
def score(
    as_of: Annotated[str, typer.Option("--as-of", help="YYYY-MM-DD: 只用此日前的订单")],
    horizon_days: Annotated[
        int, typer.Option("--horizon-days", help="预测期(天) / horizon in days")
    ] = 365,
    out_file: Annotated[
        Path | None, typer.Option("--out", help="每位患者的结果 .csv/.parquet / per-patient file")
    ] = None,
    origin: Annotated[
        str,
        typer.Option("--origin", help="registration (默认) | first_purchase (经典 BG/NBD)"),
    ] = "registration",
    discount_rate: Annotated[
        float, typer.Option("--discount-rate", help="年折现率, 如 0.1 / annual discount rate")
    ] = 0.0,
    segment_by: Annotated[
        str,
        typer.Option(
            "--segment-by",
            help="分组拟合 none|chronic|channel (差异显著时采用) / per-segment BG/NBD",
        ),
    ] = "none",
    store: StoreOpt = False,
    as_json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
) -> None:
    """为患者预测终身价值 / Score every patient's lifetime value as of a date."""
    from careops.models.clv.service import score as run

    if origin not in ("registration", "first_purchase"):
        raise InvalidInput(
            f"--origin {origin[:30]!r}: 应为 registration 或 first_purchase / expected "
            "registration or first_purchase"
        )
    check_table_out(out_file)
    result = run(
        ops(warehouse),
        parse_as_of(as_of),
        horizon_days=horizon_days,
        origin=origin,  # type: ignore[arg-type]
        discount_rate=discount_rate,
        segment_by=segment_by,  # type: ignore[arg-type]
        out=out_file,
        store=store,
    )
    if as_json:
        print_json(result.to_dict() | ({"out": str(out_file)} if out_file else {}))
        return
    out.print(
        f"[bold]终身价值 / lifetime value[/] 截至 as of {result.as_of}, 预测 {result.horizon_days} "
        f"天: {result.patients} 位患者 patients ({result.buyers} 付费 paying), 预测总值 "
        f"predicted ¥{result.total_predicted_value:,.0f} (起点 origin = {result.origin})"
    )
    out.print(
        rich_table(
            "LTV 分层 / tiers",
            ["分层 tier", "人数 patients"],
            [[TIER_LABELS[k], str(v)] for k, v in result.tiers.items()],
        )
    )
    out.print(
        rich_table(
            "渠道 / channels: LTV = 已消费 + 预测 (spend to date + predicted), CAC = 投放 / 新用户",
            [
                "渠道 channel",
                "用户 users",
                "LTV ¥",
                "其中预测 predicted ¥",
                "CAC ¥",
                "ROI",
                "评级 band",
            ],
            [
                [
                    c.channel,
                    str(c.users),
                    _num(c.mean_ltv, 1),
                    _num(c.mean_predicted_value, 1),
                    _num(c.cac, 1),
                    _num(c.roi, 2),
                    BAND_LABELS.get(c.band or "", "—"),
                ]
                for c in result.channels
            ],
        )
    )
    if result.segments:
        s = result.segments
        out.print(
            f"分组 / segments by {safe(s.by)}: LR = {s.lr_statistic:.1f}, df = {s.df}, "
            f"p = {s.p_value:.3g} → {'采用分组模型 / segmented' if s.used else '整体模型 / pooled'}"
        )
    for note in result.notes:
        out.print(f"[yellow]{safe(note)}[/]")
    if out_file:
        out.print(f"已写入 / written: {safe(out_file)} ({result.table.num_rows} 行 rows)")
