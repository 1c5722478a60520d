"""`careops journeys validate|list|show`: check definition files, list the catalogue, show one.

Thin shell over careops.journeys.definition and .catalogue: parses, calls, prints (Rich tables
in Chinese by default, `--lang en`, or `--json`).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from careops.cliutil import (
    JsonOpt,
    LangOpt,
    StateOpt,
    WarehouseOpt,
    err,
    lang_of,
    ops,
    print_json,
    rich_table,
    safe,
)
from careops.labels import label

app = typer.Typer(
    help="自动化旅程 Journeys: validate definitions, list and show them.",
    no_args_is_help=True,
)
out = Console()


def _summary(loaded, lang: str) -> dict:
    j = loaded.journey
    return {
        "key": j.key,
        "name": j.name.zh if lang == "zh" else j.name.en,
        "version": j.version,
        "trigger": j.trigger.kind,
        "steps": len(j.steps),
        "source": loaded.source,
        "warnings": [str(w) for w in loaded.warnings],
    }


@app.command("validate")
def validate(
    files: Annotated[list[Path], typer.Argument(help="旅程 YAML 文件 / journey YAML files")],
    json_out: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """校验旅程定义文件 / Validate journey definition files (line-marked errors, compliance)."""
    from careops.errors import InvalidInput, NotFound
    from careops.journeys.definition import DefinitionError, load_file

    lg = lang_of(lang)
    results, failed = [], 0
    for f in files:
        try:
            loaded = load_file(f)
            results.append({"file": str(f), "valid": True, **_summary(loaded, lg)})
        except DefinitionError as exc:
            failed += 1
            results.append(
                {"file": str(f), "valid": False, "errors": [str(p) for p in exc.problems]}
            )
        except (NotFound, InvalidInput) as exc:
            failed += 1
            results.append({"file": str(f), "valid": False, "errors": [str(exc)]})
    if json_out:
        print_json(results)
    else:
        for r in results:
            if r["valid"]:
                out.print(f"[green]✓[/green] {safe(r['file'])}: {safe(r['key'])} v{r['version']}")
                for w in r["warnings"]:
                    out.print(f"  [yellow]{label('journeys.warning', lg)}[/yellow] {safe(w)}")
            else:
                err.print(f"[red]✗[/red] {safe(r['file'])}")
                for e in r["errors"]:
                    err.print(f"  {safe(e)}")
    if failed:
        raise typer.Exit(1)


@app.command("list")
def list_(json_out: JsonOpt = False, lang: LangOpt = None) -> None:
    """列出旅程(模板与医院自有) / List journeys: shipped templates and the hospital's files."""
    from careops.journeys.catalogue import entries

    lg = lang_of(lang)
    rows = []
    for e in entries():
        if e.loaded:
            rows.append({"origin": e.origin, "valid": True, **_summary(e.loaded, lg)})
        else:
            rows.append({"origin": e.origin, "valid": False, "source": e.source, "error": e.error})
    if json_out:
        print_json(rows)
        return
    cols = ["key", "name", "version", "trigger", "steps", "origin", "valid"]
    out.print(
        rich_table(
            label("journeys.title", lg),
            [label(f"journeys.col.{c}", lg) for c in cols],
            [
                [
                    r.get("key", Path(r["source"]).stem),
                    r.get("name", "—"),
                    r.get("version", "—"),
                    label(f"journeys.trigger.{r['trigger']}", lg) if r["valid"] else "—",
                    r.get("steps", "—"),
                    label(f"journeys.origin.{r['origin']}", lg),
                    "✓" if r["valid"] else "✗",
                ]
                for r in rows
            ],
        )
    )


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="旅程名或文件 / journey key or YAML file")],
    json_out: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """显示一个旅程的步骤 / Show one journey: trigger, steps, exits, re-entry."""
    from careops.journeys.catalogue import find

    lg = lang_of(lang)
    loaded = find(name)
    j = loaded.journey
    if json_out:
        print_json({**_summary(loaded, lg), "definition": j.model_dump(mode="json", by_alias=True)})
        return
    out.print(f"[bold]{safe(j.name.zh)} / {safe(j.name.en)}[/bold]  {j.key} v{j.version}")
    out.print(
        f"{label('journeys.col.trigger', lg)}: {label(f'journeys.trigger.{j.trigger.kind}', lg)}"
    )
    rows = []
    for s in j.steps:
        detail = ""
        if s.type == "message":
            detail = f"{s.channel} · {label(f'journeys.purpose.{s.purpose}', lg)} · {s.template.zh}"
        elif s.type == "wait":
            detail = s.for_ or (f"→ {s.until}" if s.until else f"{s.event} ≤ {s.timeout}")
        elif s.type == "branch":
            detail = f"{len(s.branches)} → {s.otherwise}"
        elif s.type == "split":
            detail = (
                ", ".join(f"{a.name} {a.weight:g}" for a in s.arms) + f", holdout {s.holdout:g}"
            )
        elif s.type == "task":
            detail = f"{s.assignee} · {s.title} · {s.due}"
        elif s.type == "coupon":
            detail = f"¥{s.amount_cny:g} · {s.valid_days}d"
        elif s.type == "points":
            detail = str(s.points)
        elif s.type == "webhook":
            detail = s.url
        rows.append([s.id, label(f"journeys.step.{s.type}", lg), detail, j.following(s.id)])
    cols = ["step", "type", "detail", "next"]
    out.print(rich_table(j.key, [label(f"journeys.col.{c}", lg) for c in cols], rows))
    for w in loaded.warnings:
        out.print(f"[yellow]{label('journeys.warning', lg)}[/yellow] {safe(w)}")


def _moment(text: str, *, end: bool = False):
    """A date (hospital time: 00:00, or the last minute of the day when `end`) or an ISO time."""
    import datetime as dt

    from careops.config import get_settings
    from careops.errors import InvalidInput

    tz = get_settings().tz
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            t = dt.time(23, 59) if end else dt.time()
            return dt.datetime.combine(day, t, tzinfo=tz)
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"无法识别的时间 / cannot read {text[:40]!r}: use YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)


@app.command("dry-run")
def dry_run_cmd(
    name: Annotated[str, typer.Argument(help="旅程名或文件 / journey key or YAML file")],
    as_of: Annotated[str, typer.Option("--as-of", help="日期 YYYY-MM-DD / as-of date")],
    limit: Annotated[int, typer.Option("--limit", min=0, max=100_000, help="列出几人")] = 20,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """预演: 谁会进入、各自会收到什么(不写入) / Who would enter and what each would get."""
    from careops.asof import parse_as_of
    from careops.journeys.catalogue import find
    from careops.journeys.preview import dry_run

    lg = lang_of(lang)
    loaded = find(name)
    result = dry_run(ops(warehouse, state), loaded, parse_as_of(as_of))
    if json_out:
        print_json(
            {
                "journey": result.journey,
                "as_of": result.as_of.isoformat(),
                "entrants": result.entrants,
                "refused_by_reentry": result.refused_by_reentry,
                "counts": result.counts(),
                "planned": [
                    {"user_id": p.user_id, "path": p.path, "actions": p.actions}
                    for p in result.planned[:limit]
                ],
            }
        )
        return
    out.print(
        f"[bold]{safe(loaded.journey.name.zh if lg == 'zh' else loaded.journey.name.en)}[/bold] "
        f"{result.as_of}: {label('journeys.dry.entrants', lg)} {result.entrants}, "
        f"{label('journeys.dry.refused', lg)} {result.refused_by_reentry}"
    )
    out.print(
        rich_table(
            label("journeys.dry.counts", lg),
            [label("journeys.col.step", lg), label("journeys.dry.n", lg)],
            [[safe(k), v] for k, v in result.counts().items()],
        )
    )
    rows = [
        [safe(p.user_id), " → ".join(p.path),
         "; ".join(safe(f"{a['step']}:{a.get('channel') or a['type']}:{a.get('decision', '')}"
                        f"{'/' + a['reason'] if a.get('reason') not in (None, 'ok') else ''}")
                   for a in p.actions)]
        for p in result.planned[:limit]
    ]  # fmt: skip
    cols = [
        label("journeys.dry.user", lg),
        label("journeys.dry.path", lg),
        label("journeys.dry.actions", lg),
    ]
    out.print(rich_table(label("journeys.dry.title", lg), cols, rows))


@app.command("run")
def run_cmd(
    names: Annotated[list[str], typer.Argument(help="旅程名或文件 / journey keys or YAML files")],
    start: Annotated[str, typer.Option("--from", help="开始 YYYY-MM-DD[THH:MM] (医院时间)")],
    end: Annotated[str, typer.Option("--to", help="结束 YYYY-MM-DD[THH:MM] (含当天)")],
    step: Annotated[str, typer.Option("--step", help="时间步长 / time step (30m, 1h, 1d)")] = "1h",
    respond: Annotated[
        bool, typer.Option("--respond", help="模拟器应答每次发送并入库 / the simulator answers")
    ] = False,
    sim: Annotated[
        Path | None, typer.Option("--sim", help="模拟输出目录 / simulation folder (for --respond)")
    ] = None,
    channel: Annotated[
        str | None, typer.Option("--channel", help="全部经此渠道发送 / send all through (file)")
    ] = None,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """按模拟时间运行旅程(与在线 worker 同一路径) / Replay journeys over simulated time."""
    import datetime as dt

    from careops.errors import InvalidInput
    from careops.journeys.catalogue import find
    from careops.journeys.clock import run
    from careops.journeys.definition import parse_duration
    from careops.journeys.dispatch import ChannelSender

    lg = lang_of(lang)
    if respond and sim is None:
        raise InvalidInput("--respond 需要 --sim 模拟目录 / --respond needs --sim FOLDER")
    try:
        seconds = parse_duration(step)
    except ValueError as exc:
        raise InvalidInput(f"--step: {exc}") from None
    loaded = [find(n) for n in names]
    context = ops(warehouse, state)
    sender = ChannelSender(context.settings, route=channel) if channel else None
    report = run(
        context,
        loaded,
        _moment(start).astimezone(dt.UTC),
        _moment(end, end=True).astimezone(dt.UTC),
        step=dt.timedelta(seconds=seconds),
        respond=sim if respond else None,
        sender=sender,
    )
    totals = dataclasses.asdict(report.totals)
    if json_out:
        print_json({"ticks": report.ticks, **totals, "responses": report.responses})
        return
    rows = [[label(f"journeys.run.{k}", lg), v] for k, v in totals.items()]
    rows += [[f"{label('journeys.run.responses', lg)} {k}", v] for k, v in report.responses.items()]
    out.print(rich_table(f"{label('journeys.run.title', lg)} ({report.ticks})", ["", ""], rows))


def _switch(name: str, enabled: bool, note: str, state: str | None) -> None:
    from careops.journeys.switch import set_enabled

    s = set_enabled(ops(None, state), name, enabled, note)
    word = "已启用 / enabled" if s.enabled else "已停用 / disabled"
    out.print(f"{safe(s.journey)}: {word} ({safe(s.changed_by or '')})")


NoteOpt = Annotated[str, typer.Option("--note", help="原因 (记入审计) / why, kept in the audit")]


@app.command("enable")
def enable_cmd(
    name: Annotated[str, typer.Argument(help="旅程名 / journey key")],
    note: NoteOpt = "",
    state: StateOpt = None,
) -> None:
    """启用旅程 (实时 worker 运行) / Switch a journey on for the live worker."""
    _switch(name, True, note, state)


@app.command("disable")
def disable_cmd(
    name: Annotated[str, typer.Argument(help="旅程名 / journey key")],
    note: NoteOpt = "",
    state: StateOpt = None,
) -> None:
    """停用旅程 (其患者暂停推进) / Switch a journey off: its enrolments pause."""
    _switch(name, False, note, state)


@app.command("measure")
def measure_cmd(
    name: Annotated[str, typer.Argument(help="旅程名 / journey key")],
    window: Annotated[int, typer.Option("--window", help="归因窗口(天) / attribution days")] = 7,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """旅程效果: 各步骤发送、打开、点击、转化、归因收入 / What a journey did, per step."""
    from careops.journeys.measure import measure

    lg = lang_of(lang)
    m = measure(ops(warehouse, state), name, window_days=window)
    data = {
        "journey": m.journey, "window_days": m.window_days, "entered": m.entered,
        "exited": m.exited, "treated": m.treated, "control": m.control,
        "revenue_per_treated": m.revenue_per_treated,
        "revenue_per_control": m.revenue_per_control,
        "incremental_per_patient": m.incremental_per_patient,
        "steps": [dataclasses.asdict(s) for s in m.steps],
    }  # fmt: skip
    if json_out:
        print_json(data)
        return
    cols = ["step", "reached", "sent", "delivered", "suppressed", "opened", "clicked",
            "converted", "revenue"]  # fmt: skip
    out.print(
        rich_table(
            f"{m.journey}: {label('journeys.run.entered', lg)} {m.entered}",
            [label(f"journeys.measure.{c}", lg) for c in cols],
            [[safe(s.step), s.reached, s.sent, s.delivered, s.suppressed, s.opened, s.clicked,
              s.converted, f"{s.revenue:,.2f}"] for s in m.steps],
        )
    )  # fmt: skip
    inc = m.incremental_per_patient
    out.print(
        f"{label('journeys.measure.incremental', lg)}: "
        + (f"{inc:,.2f} (n={m.treated} / {m.control})" if inc is not None else "—")
    )


@app.command("worker")
def worker_cmd(
    every: Annotated[
        float, typer.Option("--every", min=1, help="间隔秒数 / seconds between ticks")
    ] = 60,
    once: Annotated[bool, typer.Option("--once", help="只运行一次 / one tick, then exit")] = False,
    json_out: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    state: StateOpt = None,
) -> None:
    """在线运行医院旅程(墙上时钟) / Run the hospital's journeys live, one tick every N seconds."""
    import time

    from careops.journeys.clock import live_tick

    context = ops(warehouse, state)
    while True:
        report = dataclasses.asdict(live_tick(context))
        if json_out:
            print_json(report)
        else:
            out.print(" ".join(f"{k}={v}" for k, v in report.items()))
        if once:
            return
        time.sleep(every)


unknown_app = typer.Typer(
    help="待核实发送 / Sends whose outcome is unknown: list them, resolve each as sent or not.",
    no_args_is_help=True,
)
app.add_typer(unknown_app, name="unknown")

_UNKNOWN_COLUMNS = {
    "key": ("发送键", "key"), "journey": ("旅程", "journey"), "step": ("步骤", "step"),
    "user_id": ("患者", "patient"), "channel": ("渠道", "channel"),
    "decided_at": ("决定时间", "decided at"), "age": ("已过", "age"),
    "requeued": ("已重排", "re-queued"),
}  # fmt: skip


def _age(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    return f"{h // 24}d{h % 24}h" if h >= 24 else f"{h}h{rest // 60:02d}m"


@unknown_app.command("list")
def unknown_list_cmd(
    journey: Annotated[str | None, typer.Option("--journey", help="旅程 / journey key")] = None,
    channel: Annotated[str | None, typer.Option("--channel", help="渠道 / channel")] = None,
    min_age: Annotated[
        int, typer.Option("--min-age", min=0, help="至少多少秒前决定 / decided ≥ N seconds ago")
    ] = 0,
    page: Annotated[int, typer.Option("--page", min=1, help="页码 / page")] = 1,
    per_page: Annotated[
        int, typer.Option("--per-page", min=1, max=500, help="每页 / per page")
    ] = 50,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
    state: StateOpt = None,
) -> None:
    """列出结果未知的发送(最早的在前) / List the sends whose outcome is unknown, oldest first."""
    from careops.journeys.review import list_unknown

    lg = lang_of(lang)
    got = list_unknown(
        ops(None, state), journey=journey, channel=channel, min_age_s=min_age, page=page,
        per_page=per_page,
    )  # fmt: skip
    if json_out:
        print_json(got.model_dump(mode="json"))
        return
    i = 0 if lg == "zh" else 1
    out.print(
        rich_table(
            f"待核实发送 / unknown sends: {got.total} ({page}/{max(1, -(-got.total // per_page))})",
            [v[i] for v in _UNKNOWN_COLUMNS.values()],
            [[s.key, s.journey, s.step, s.user_id, s.channel or s.kind,
              s.decided_at.isoformat(), _age(s.age_s), "✓" if s.requeued_before else ""]
             for s in got.items],
        )
    )  # fmt: skip


@unknown_app.command("resolve")
def unknown_resolve_cmd(
    key: Annotated[str, typer.Argument(help="发送键 / the send's idempotency key")],
    sent: Annotated[
        bool | None,
        typer.Option("--sent/--not-sent", help="服务商已收到 / the provider has it, or not"),
    ] = None,
    note: NoteOpt = "",
    json_out: JsonOpt = False,
    state: StateOpt = None,
) -> None:
    """核实后处理: 已发送 (标记) 或 未发送 (同键重新排队一次) / Resolve an unknown send."""
    from careops.journeys.review import resolve

    if sent is None:
        err.print("请说明 --sent 或 --not-sent / say --sent or --not-sent")
        raise typer.Exit(2)
    r = resolve(ops(None, state), key, "sent" if sent else "not_sent", note)
    if json_out:
        print_json(r.model_dump(mode="json"))
        return
    word = (
        "已标记为已发送 / marked sent"
        if r.status == "sent"
        else (f"已重新排队 / re-queued, due {r.next_try.isoformat() if r.next_try else ''}")
    )
    out.print(f"{safe(r.key)}: {word} ({safe(r.resolved_by)})")
