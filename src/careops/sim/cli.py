"""`careops simulate`: the command-line shell over `careops.sim.simulate`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TimeElapsedColumn
from rich.table import Table

from careops.errors import ConfigError
from careops.sim.config import SimConfig
from careops.sim.generate import check_window, simulate
from careops.sim.summary import summary

console = Console()


def simulate_command(
    out: Annotated[Path, typer.Option("--out", help="output folder / 输出目录")],
    users: Annotated[int, typer.Option("--users", help="number of patients / 患者数")] = 20_000,
    days: Annotated[int, typer.Option("--days", help="days simulated / 模拟天数")] = 365,
    seed: Annotated[int, typer.Option("--seed", help="random seed / 随机种子")] = 0,
    start: Annotated[str | None, typer.Option("--start", help="first day YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """模拟互联网医院 / Simulate an internet hospital: canonical tables + ground truth."""
    try:
        kwargs: dict = {"users": users, "days": days, "seed": seed}
        if start:
            kwargs["start"] = dt.date.fromisoformat(start)
        cfg = SimConfig(**kwargs)
    except ValueError as exc:  # ValidationError is a ValueError
        detail = exc.errors()[0] if isinstance(exc, ValidationError) else None
        field = ".".join(map(str, detail["loc"])) if detail else "start"
        msg = detail["msg"] if detail else str(exc)
        raise ConfigError(f"--{field}: {msg}") from None
    check_window(cfg)
    with progress_bar(as_json) as (bar, task):
        bar.update(task, total=cfg.users)
        result = simulate(cfg, out, progress=lambda done, total: bar.update(task, completed=done))
    if as_json:
        print(json.dumps({"out": str(result.out), "rows": result.rows,
                          "calibration": result.calibration}, ensure_ascii=False))
        return
    print_summary(out)


@contextmanager
def progress_bar(disable: bool) -> Iterator[tuple[Progress, TaskID]]:
    """The simulation's progress bar (patients done of total)."""
    with Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), console=console, disable=disable) as bar:
        yield bar, bar.add_task("模拟患者 simulating", total=None)


def print_summary(out: Path) -> None:
    """Print personas, volumes and the calibration table of a simulation folder."""
    s = summary(out)
    t = Table(title="患者画像 Personas")
    t.add_column("persona")
    t.add_column("画像")
    t.add_column("patients", justify="right")
    for r in s["personas"]:
        t.add_row(r["persona"], r["label_zh"], f"{r['patients']:,}")
    console.print(t)
    console.print(f"事件 events {s['events']:,} · 订单 orders {s['orders']:,} · "
                  f"收入 revenue ¥{s['revenue_cny']:,.0f}")
    c = Table(title="校准 Calibration")
    for col in ("指标 metric", "value", "target", "ok"):
        c.add_column(col)
    for r in s["calibration"]:
        lo, hi = r["target_low"], r["target_high"]
        target = f"{'' if lo is None else lo}–{'' if hi is None else hi}"
        value = "n/a" if r["value"] is None else f"{r['value']:g}"
        c.add_row(r["label_zh"], value, target, "✓" if r["ok"] else "✗")
    console.print(c)
