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

from careops.config import get_settings
from careops.errors import ConfigError
from careops.labels import label
from careops.sim.config import SimConfig
from careops.sim.generate import check_window, simulate

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
        print(
            json.dumps(
                {"out": str(result.out), "rows": result.rows, "calibration": result.calibration},
                ensure_ascii=False,
            )
        )
        return
    print_summary(out)


@contextmanager
def progress_bar(disable: bool) -> Iterator[tuple[Progress, TaskID]]:
    """The simulation's progress bar (patients done of total)."""
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=disable,
    ) as bar:
        yield bar, bar.add_task(label("sim.progress", get_settings().lang), total=None)


def print_summary(out: Path, lang: str | None = None) -> None:
    """Print personas, volumes and the calibration table of a simulation folder."""
    from careops.sim.view import print_summary as show

    show(out, console, lang or get_settings().lang)
