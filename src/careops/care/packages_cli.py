"""`careops packages …`: the service-package catalogue, a patient's usage, the activation
window, renewal, SLAs and outcomes. Thin shell over `careops.care.packages_service`."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from careops.cliutil import JsonOpt, StateOpt, WarehouseOpt, ops, out, print_json, rich_table

packages_app = typer.Typer(
    help="服务包 Service packages: catalogue, usage, activation, renewal, SLA, outcomes.",
    no_args_is_help=True,
)

AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="统计日 YYYY-MM-DD (默认今天) / as-of date")
]
T = TypeVar("T")
CatalogueOpt = Annotated[
    Path | None,
    typer.Option("--catalogue", help="医院自有服务包目录 YAML / the hospital's own catalogue"),
]


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.1%}"


def _day(as_of: str | None):
    from careops.asof import parse_as_of

    return parse_as_of(as_of)


def _plain(x) -> dict:
    d = dataclasses.asdict(x)
    for k, v in list(d.items()):
        if hasattr(v, "isoformat"):
            d[k] = v.isoformat()
    for name in (
        "rate",
        "breach_rate",
        "rate_before",
        "rate_after",
        "renewal_rate",
        "contact_rate",
    ):
        if hasattr(x, name):
            d[name] = getattr(x, name)
    return d


def _call(warehouse: str | None, state: str | None, fn: Callable[[Any], T]) -> T:
    """Run `fn` with the command's service context, closed afterwards."""
    context = ops(warehouse, state)
    try:
        return fn(context)
    finally:
        context.close()


def _emit(json_: bool, payload: Any, *tables: tuple[str, list[str], list[list]]) -> None:
    """`payload` as JSON for machines, else each (title, columns, rows) as a table."""
    if json_:
        print_json(payload)
        return
    for title, cols, rows in tables:
        out.print(rich_table(title, cols, rows))


@packages_app.command("list")
def list_(catalogue: CatalogueOpt = None, json_: JsonOpt = False) -> None:
    """服务包目录 / The catalogue: price, launch price, validity, SLA tier, entitlements."""
    from careops.care.packages_service import catalogue as load

    cat = load(catalogue)
    payload = {"sla_s": cat.sla, "packages": {k: p.model_dump() for k, p in cat.packages.items()}}
    label = {k: v[0] for k, v in cat.entitlements.items()}
    rows = [
        [
            pid,
            p.name,
            f"¥{p.price_cny:g}",
            f"¥{p.launch_price_cny:g}" if p.launch_price_cny else "—",
            p.validity_days,
            f"{'VIP' if p.tier == 'vip' else '标准'} ≤{cat.sla[p.tier]:g}s",
            "、".join(f"{label[k]}×{n}" for k, n in p.entitlements.items()),
        ]
        for pid, p in cat.packages.items()
    ]
    cols = ["编号", "名称", "价格", "首发价", "有效期(天)", "回复时限", "权益"]
    _emit(json_, payload, (f"服务包 / packages: {len(rows)}", cols, rows))


@packages_app.command("usage")
def usage(
    user_id: Annotated[str, typer.Argument(help="患者 ID / patient id")],
    as_of: AsOfOpt = None,
    catalogue: CatalogueOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """患者权益使用与剩余 / A patient's entitlement use and what is left."""
    from careops.care.packages_service import catalogue as load
    from careops.care.packages_service import patient_usage

    cat = load(catalogue)
    result = _call(warehouse, state, lambda c: patient_usage(c, user_id, _day(as_of), cat))
    if json_:
        print_json([_plain(e) for e in result])
        return
    if not result:
        out.print(f"{user_id}: 无服务包签约 / no enrolments")
    label = {k: v[0] for k, v in cat.entitlements.items()}
    for e in result:
        rows = [
            [label.get(x.entitlement, x.entitlement), x.included, x.used, x.left]
            for x in e.entitlements
        ]
        title = (
            f"{e.enrollment_id} {e.package_id} {e.start_at:%Y-%m-%d}→{e.end_at:%Y-%m-%d} {e.status}"
        )
        _emit(False, None, (title, ["权益", "含", "已用", "剩余"], rows))


@packages_app.command("activation")
def activation(
    as_of: AsOfOpt = None,
    package: Annotated[str | None, typer.Option("--package", help="只看该服务包")] = None,
    all_: Annotated[bool, typer.Option("--all", help="含进度正常者 / also those on pace")] = False,
    nudge: Annotated[
        bool,
        typer.Option("--raise-tasks", help="为落后者生成健康管家提醒任务 / raise nudge tasks"),
    ] = False,
    limit: Annotated[int, typer.Option("--limit", min=1, max=100_000)] = 50,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """90 天黄金激活期: 谁落后、差多少 / Who is behind in the 90-day activation window."""
    from careops.care.packages_service import activation as run
    from careops.care.packages_service import raise_activation_nudges

    day = _day(as_of)

    def both(c):
        rows = run(c, day, behind_only=not all_, package_id=package)
        return rows, (raise_activation_nudges(c, day, package_id=package) if nudge else None)

    rows, raised = _call(warehouse, state, both)
    if raised is not None and not json_:
        out.print(f"提醒任务 / nudge tasks: {len(raised)}")
    table = [
        [
            r.user_id,
            r.package_id,
            r.enrollment_id,
            r.day,
            r.uses,
            r.short,
            r.behind_pace,
            r.days_left,
        ]
        for r in rows[:limit]
    ]
    cols = ["患者", "服务包", "签约", "第几天", "已用", "差几次", "落后进度", "剩余天数"]
    payload = {
        "total": len(rows),
        "items": [_plain(r) for r in rows[:limit]],
        "nudge_tasks": raised,
    }
    _emit(json_, payload, (f"激活期未达标 / behind: {len(rows)}", cols, table))


@packages_app.command("renewal")
def renewal(
    as_of: AsOfOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """续费率: 激活 vs 未激活 / Renewal rate of activated vs not activated enrolments."""
    from careops.care.packages_service import renewal as run

    r = _call(warehouse, state, lambda c: run(c, _day(as_of)))
    groups = {"activated": r.activated, "not_activated": r.not_activated, "overall": r.overall}
    names = {"activated": "已激活(90天≥5次)", "not_activated": "未激活", "overall": "合计"}
    rows = [[names[k], g.ended, g.renewed, _pct(g.rate)] for k, g in groups.items()]
    payload = {k: _plain(g) for k, g in groups.items()}
    _emit(json_, payload, ("续费 / renewal", ["分组", "已到期", "已续费", "续费率"], rows))


@packages_app.command("sla")
def sla(
    as_of: AsOfOpt = None,
    days: Annotated[int, typer.Option("--days", help="回看天数 / days back")] = 90,
    limit: Annotated[int, typer.Option("--limit", min=1, max=10_000)] = 20,
    catalogue: CatalogueOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """服务时效: 各服务包首次回复超时 / Delivery SLAs per package, breaches listed."""
    from careops.care.packages_service import catalogue as load
    from careops.care.packages_service import sla as run

    cat = load(catalogue)
    r = _call(warehouse, state, lambda c: run(c, _day(as_of), days=days, limit=limit, cat=cat))
    payload = {
        "packages": [_plain(x) for x in r.rows],
        "total_breaches": r.total_breaches,
        "breaches": [_plain(b) for b in r.breaches],
    }
    rows = [
        [x.package_id, x.tier, f"{x.limit_s:g}", x.consultations, x.breaches, _pct(x.breach_rate)]
        for x in r.rows
    ]
    b = [
        [
            x.consultation_id,
            x.user_id,
            x.package_id,
            f"{x.started_at:%Y-%m-%d %H:%M}",
            f"{x.first_reply_s:g}",
            f"{x.limit_s:g}",
        ]
        for x in r.breaches
    ]
    _emit(
        json_,
        payload,
        ("服务时效 / SLA", ["服务包", "等级", "时限(秒)", "问诊", "超时", "超时率"], rows),
        (
            f"超时问诊 / breaches: {len(b)} / {r.total_breaches}",
            ["问诊", "患者", "服务包", "开始(UTC)", "首次回复(秒)", "时限"],
            b,
        ),
    )


@packages_app.command("outcomes")
def outcomes(
    as_of: AsOfOpt = None,
    catalogue: CatalogueOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """健康结局: 签约前后血压/血糖控制率 / Control rate before vs after enrolment."""
    from careops.care.packages_service import catalogue as load
    from careops.care.packages_service import outcomes as run

    cat = load(catalogue)
    rows = _call(warehouse, state, lambda c: run(c, _day(as_of), cat))
    names = {"bp": "血压", "glucose": "血糖"}
    t = [
        [x.package_id, names[x.measure], x.patients, _pct(x.rate_before), _pct(x.rate_after)]
        for x in rows
    ]
    cols = ["服务包", "指标", "患者(前后均有读数)", "签约前", "签约后"]
    _emit(json_, [_plain(x) for x in rows], ("控制率 / control rate", cols, t))


@packages_app.command("enroll")
def enroll(
    user_id: Annotated[str, typer.Argument(help="患者 ID / patient id")],
    package: Annotated[str, typer.Argument(help="服务包编号 / package id")],
    key: Annotated[
        str | None, typer.Option("--key", help="幂等键, 如支付单号 / idempotency key")
    ] = None,
    launch: Annotated[
        bool, typer.Option("--launch", help="按首发价 / at the launch price")
    ] = False,
    renewal_of: Annotated[
        str | None, typer.Option("--renewal-of", help="续约的签约 ID / enrolment renewed")
    ] = None,
    catalogue: CatalogueOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """签约服务包并记录支付 / Enrol a patient in a package and record the payment."""
    from careops.care.packages_service import catalogue as load
    from careops.care.packages_service import enroll as run

    cat = load(catalogue)
    e = _call(
        warehouse,
        state,
        lambda c: run(
            c, user_id, package, key=key, launch_price=launch, renewal_of=renewal_of, cat=cat
        ),
    )
    if json_:
        print_json(_plain(e))
        return
    verb = "已签约" if e.created else "已存在(同一幂等键)"
    out.print(
        f"{verb} / {'enrolled' if e.created else 'already enrolled'}: {e.enrollment_id} "
        f"{e.package_id} ¥{e.price_cny:g} {e.start_at:%Y-%m-%d}→{e.end_at:%Y-%m-%d}"
    )


@packages_app.command("ladder")
def ladder(
    as_of: AsOfOpt = None,
    days: Annotated[
        int, typer.Option("--days", help="到期回看天数 / ended in the last N days")
    ] = 90,
    journey: Annotated[
        str, typer.Option("--journey", help="续费触达旅程 / the renewal journey")
    ] = "renewal_ladder",
    catalogue: CatalogueOpt = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """续费阶梯: 60/30/7 天到期 → 已触达 → 续费/流失 / The renewal ladder per package."""
    from careops.care.packages_service import catalogue as load
    from careops.care.packages_service import renewal_ladder

    cat = load(catalogue)
    rows = _call(
        warehouse,
        state,
        lambda c: renewal_ladder(c, _day(as_of), days=days, journey=journey, cat=cat),
    )
    t = [
        [
            x.package_id, x.running, x.expiring_60, x.expiring_30, x.expiring_7, x.ended,
            x.contacted, x.renewed, x.lapsed, x.pending, _pct(x.renewal_rate),
        ]
        for x in rows
    ]  # fmt: skip
    cols = [
        "服务包", "生效中", "60天内到期", "30天内到期", "7天内到期", f"近{days}天到期",
        "已触达", "已续费", "已流失", "宽限期内", "续费率",
    ]  # fmt: skip
    _emit(json_, [_plain(x) for x in rows], (f"续费阶梯 / renewal ladder ({journey})", cols, t))
