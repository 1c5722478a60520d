"""`careops audit list|verify`: read and check the audit trail (a thin shell over
`careops.state.audit_trail`)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from careops.cliutil import JsonOpt, StateOpt, WarehouseOpt, out, print_json, rich_table, safe
from careops.cliutil import ops as open_ops
from careops.errors import ConfigError

audit_app = typer.Typer(
    help="审计日志 / The audit trail: who read or changed what, and whether it is intact.",
    no_args_is_help=True,
)

_TIME_HELP = "YYYY-MM-DD 或 ISO 时间; 无时区按医院时区 / date or ISO time, hospital time zone"


def _time(value: str | None, option: str) -> dt.datetime | None:
    """A `--since`/`--until` value: a date or ISO time; without an offset, the hospital's time."""
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise ConfigError(
            f"{option} {value!r}: 不是日期或时间 / not a date or ISO time (2026-01-31, "
            "2026-01-31T08:00, 2026-01-31T08:00+08:00)"
        ) from None
    if parsed.tzinfo is None:
        from careops.config import get_settings

        parsed = parsed.replace(tzinfo=get_settings().tz)
    return parsed.astimezone(dt.UTC)


@audit_app.command("list")
def list_command(
    actor: Annotated[str | None, typer.Option(help="操作者 / actor, e.g. user:zhang")] = None,
    action: Annotated[str | None, typer.Option(help="动作 / action, e.g. patient.read")] = None,
    subject: Annotated[str | None, typer.Option(help="患者 user_id / the patient")] = None,
    since: Annotated[
        str | None, typer.Option(help=f"起 (含) / from, inclusive: {_TIME_HELP}")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help=f"止 (不含) / to, exclusive: {_TIME_HELP}")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="条数 / entries")] = 50,
    json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """列出审计记录 (最新在前) / List audit entries, newest first."""
    from careops.state.audit_trail import AuditFilter, read_trail

    where = AuditFilter(
        actor=actor,
        action=action,
        subject=subject,
        since=_time(since, "--since"),
        until=_time(until, "--until"),
    )
    ops = open_ops(warehouse, state)
    try:
        entries, total = read_trail(ops, where, limit=limit)
    finally:
        ops.close()
    if json:
        print_json({"total": total, "items": [e.model_dump(mode="json") for e in entries]})
        return
    tz = ops.settings.tz
    rows = [
        [
            e.id,
            e.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"),
            e.actor,
            e.role or "",
            e.action,
            e.subject or "",
            e.target or "",
            e.purpose or "",
            e.source_ip or "",
        ]
        for e in entries
    ]
    headers = ["id", "时间 time", "操作者 actor", "角色 role", "动作 action", "患者 subject"]
    headers += ["对象 target", "目的 purpose", "来源 source"]
    out.print(rich_table(f"审计日志 / audit trail ({len(entries)}/{total})", headers, rows))


@audit_app.command("verify")
def verify_command(
    expect_head: Annotated[
        str | None,
        typer.Option(help="上次记下的链头哈希 / a head hash noted earlier (finds a cut end)"),
    ] = None,
    json: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """校验审计哈希链 (完好退出码 0, 损坏 1) / Verify the hash chain: exit 0 intact, 1 broken."""
    from careops.state.audit_trail import verify

    ops = open_ops(warehouse, state)
    try:
        result = verify(ops, expect_head=expect_head)
    finally:
        ops.close()
    if json:
        print_json(result.as_dict())
    elif result.ok:
        out.print(
            f"[green]审计链完好 / audit chain intact[/]: {result.chained} 条已链 chained, "
            f"{result.legacy} 条旧记录未链 unchained legacy rows; 链头 head "
            f"#{result.head_id} {result.head_hash or '-'}",
            highlight=False,
        )
    else:
        where = f"#{result.broken_id}" if result.broken_id is not None else "-"
        out.print(
            f"[bold red]审计链损坏 / audit chain broken[/] at row {where}: {safe(result.reason)}",
            highlight=False,
        )
    if not result.ok:
        raise typer.Exit(1)
