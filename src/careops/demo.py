"""`careops demo`: a simulated hospital, ingested into a fresh warehouse, summarised."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Annotated

import typer

from careops.cliutil import out
from careops.config import get_settings


def demo(
    users: Annotated[int, typer.Option(help="模拟患者数 / patients")] = 20_000,
    days: Annotated[int, typer.Option(help="模拟天数 / days")] = 365,
    seed: Annotated[int, typer.Option(help="随机种子 / seed")] = 0,
    folder: Annotated[Path, typer.Option("--dir", help="演示数据目录 / demo folder")] = Path(
        "careops-data/demo"),
) -> None:
    """演示: 模拟一家互联网医院, 导入仓库, 打印概况 / Simulate, ingest and summarise a hospital."""
    from careops.ingest.cli import print_report
    from careops.ingest.pipeline import ingest_paths
    from careops.sim import SimConfig, simulate, table_paths
    from careops.sim.cli import print_summary, progress_bar
    from careops.state import audit, connect_state, migrate
    from careops.warehouse import connect, create_tables

    settings = get_settings()
    shutil.rmtree(folder, ignore_errors=True)
    sim_dir, warehouse = folder / "simulation", folder / "warehouse.duckdb"
    cfg = SimConfig(users=users, days=days, seed=seed)
    out.print(f"[bold]1/3 模拟 {users:,} 名患者 × {days} 天[/] (seed {seed}) → {sim_dir}")
    with progress_bar(False) as (bar, task):
        bar.update(task, total=cfg.users)
        simulate(cfg, sim_dir, progress=lambda done, total: bar.update(task, completed=done))
    out.print(f"[bold]2/3 导入仓库[/] → duckdb:///{warehouse}")
    con = connect(f"duckdb:///{warehouse}")
    create_tables(con)
    report = ingest_paths(con, table_paths(sim_dir), settings=settings)
    engine = connect_state(settings.state)
    migrate(engine)
    audit(engine, "demo", target=str(folder), detail={"users": users, "days": days})
    print_report(report, settings.lang)
    out.print("[bold]3/3 概况[/]")
    print_summary(sim_dir)
    out.print(f"\n仓库 / warehouse: duckdb:///{warehouse}\n"
              f"试试 / try: careops tables -w duckdb:///{warehouse}\n"
              f'          careops sql "SELECT department, count(*) FROM consultations GROUP BY 1 '
              f'ORDER BY 2 DESC" -w duckdb:///{warehouse}')
    raise typer.Exit(report.exit_code)
