"""`careops health record USER_ID`: the personal health record. Thin shell over
`careops.care.health_service`. Clinical data: the caller signs in as a member of staff
(`--staff NAME`, password from CAREOPS_PASSWORD or asked), since the machine's own login is an
administrator, who treats no one."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Annotated

import typer

from careops.cliutil import (
    JsonOpt,
    StateOpt,
    WarehouseOpt,
    ops,
    out,
    print_json,
    rich_table,
    safe,
)

health_app = typer.Typer(
    help="健康管理 Health management: the personal health record, plans, refills, follow-up.",
    no_args_is_help=True,
)

STATUS_ZH = {"ok": "充足", "refill_due": "需续方", "lapsed": "已断药"}
REASON_ZH = {
    "controlled": "控制达标",
    "uncontrolled": "未达标",
    "severe": "明显超标",
    "no_reading": "无读数",
}


def _signed_in(warehouse: str | None, state: str | None, staff: str | None):
    from careops.service import Ops

    context = ops(warehouse, state)
    if not staff:
        return context
    from careops.identity.accounts import login
    from careops.identity.sessions import actor_for_token

    password = os.environ.get("CAREOPS_PASSWORD") or typer.prompt(
        "密码 / password", hide_input=True
    )
    token = login(context, staff, password)
    actor = actor_for_token(context, token.access_token)
    context.close()
    return Ops.open(context.warehouse_url, context.state_url, actor=actor)


@health_app.command("record")
def record(
    user_id: Annotated[str, typer.Argument(help="患者 ID / patient id")],
    as_of: Annotated[str | None, typer.Option("--as-of", help="统计日 YYYY-MM-DD")] = None,
    staff: Annotated[
        str | None, typer.Option("--staff", help="以该员工账号登录 / sign in as this staff user")
    ] = None,
    plans: Annotated[
        Path | None, typer.Option("--plans", help="医院自有计划模板 YAML / own plan templates")
    ] = None,
    json_: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """个人健康档案 / The personal health record of one patient."""
    from careops.asof import parse_as_of
    from careops.care.health import load_plans
    from careops.care.health_service import record as run

    day = parse_as_of(as_of)
    templates = load_plans(plans)
    context = _signed_in(warehouse, state, staff)
    try:
        r = run(context, user_id, day, templates)
    finally:
        context.close()
    if json_:
        print_json(dataclasses.asdict(r))
        return
    p = r.profile
    out.print(
        f"[bold]{safe(user_id)}[/bold]  性别 {safe(p['sex'] or '—')}  "
        f"年龄 {'—' if p['age'] is None else p['age']}  统计日 {r.as_of}"
    )
    out.print(
        rich_table(
            "诊断 / conditions",
            ["编码", "名称", "状态"],
            [[c["code"], c["display"], c["status"]] for c in r.conditions],
        )
    )
    lt = r.latest
    rows = []
    if "bp" in lt:
        b = lt["bp"]
        rows.append(
            [
                "血压",
                f"{b['systolic']:g}/{b['diastolic']:g} mmHg",
                f"{b['ts']:%Y-%m-%d}",
                "是" if b["controlled"] else "否",
            ]
        )
    if "glucose" in lt:
        g = lt["glucose"]
        rows.append(
            [
                "血糖",
                f"{g['value']:g} mmol/L",
                f"{g['ts']:%Y-%m-%d}",
                "是" if g["controlled"] else "否",
            ]
        )
    out.print(rich_table("最近读数 / latest readings", ["指标", "数值", "日期", "达标"], rows))
    out.print(
        rich_table(
            "用药与续方 / medication and refills",
            ["药品", "开具日", "天数", "用完日", "剩余天数", "状态"],
            [
                [
                    m.drug_name,
                    m.prescribed_on,
                    m.days_supply,
                    m.runs_out,
                    m.days_left,
                    STATUS_ZH[m.status],
                ]
                for m in r.medications
            ],
        )
    )
    for pl in r.plans:
        out.print(
            rich_table(
                f"{pl.name}  依从 {'—' if pl.adherence is None else f'{pl.adherence:.0%}'}",
                ["目标", "实际", "达成"],
                [
                    [
                        t.text,
                        "—" if t.value is None else t.value,
                        {True: "✓", False: "✗", None: "—"}[t.met],
                    ]
                    for t in pl.targets
                ],
            )
        )
    if r.follow_up:
        f = r.follow_up
        out.print(
            f"随访: 每 {f['interval_days']} 天 ({REASON_ZH[f['reason']]}), 下次 {f['due']}"
            + (" ⚠已逾期" if f["overdue"] else "")
        )
    fam = r.family
    if fam["managed_by"] or fam["manages"]:
        out.print(
            f"家庭账号: 由 {safe(fam['managed_by'] or '—')} 管理; "
            f"管理 {safe(', '.join(fam['manages']) or '—')}"
        )
    for n in r.notify:
        out.print(f"通知 {safe(n['to'])}: {', '.join(n['what'])}")


@health_app.command("refills")
def refills(
    as_of: Annotated[str | None, typer.Option("--as-of", help="统计日 YYYY-MM-DD")] = None,
    plans: Annotated[
        Path | None, typer.Option("--plans", help="医院自有计划模板 YAML / own plan templates")
    ] = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """为即将断药者生成续方提醒任务 / Raise refill-reminder tasks for supplies running out."""
    from careops.asof import parse_as_of
    from careops.care.health import load_plans
    from careops.care.health_service import raise_refill_reminders

    day = parse_as_of(as_of)
    templates = load_plans(plans)
    context = ops(warehouse, state)
    try:
        ids = raise_refill_reminders(context, day, templates)
    finally:
        context.close()
    out.print(f"续方提醒任务 / refill reminder tasks: {len(ids)}")


@health_app.command("rules")
def rules(
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="检查该规则文件(默认: 设置 health.alert_rules) / check this file"
        ),
    ] = None,
    json_: JsonOpt = False,
) -> None:
    """异常读数预警规则: 检查并列出生效规则 / Check and list the abnormal-reading rules in force
    (the file named by the setting health.alert_rules, else the shipped ones); a bad file is
    refused with its line and field (exit 2)."""
    from careops.care.alerts import load_rules, rules_for
    from careops.config import get_settings

    settings = get_settings()
    found = load_rules(file) if file else rules_for(settings, strict=True)
    source = str(file or settings.health.alert_rules or "shipped")
    if json_:
        print_json({"source": source, "rules": found.model_dump(mode="json")["rules"]})
        return
    rows = [
        [
            k,
            r.title,
            " 或 ".join(f"{'/'.join(c.codes)} {c.op} {c.value:g}" for c in r.when),
            str(r.days),
            f"{r.assignee_role}{'@' + r.department if r.department else ''}",
            f"{r.due_minutes} min",
        ]
        for k, r in found.rules.items()
    ]
    out.print(
        rich_table(
            f"预警规则 / alert rules: {safe(source)}",
            ["规则", "名称", "条件", "连续天数", "处理人", "时限"],
            rows,
        )
    )
