"""`careops demo`: a simulated hospital, ingested into a fresh warehouse, summarised."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import Annotated

import typer

from careops.cliutil import out, rich_table
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
    from careops.service import state_url_for
    from careops.sim import SimConfig, simulate, table_paths
    from careops.sim.cli import print_summary, progress_bar
    from careops.state import audit, connect_state, migrate
    from careops.tags.layers_report import layer_counts
    from careops.tags.layers_view import counts_table
    from careops.tags.snapshot import store_snapshot
    from careops.warehouse import connect, create_tables

    settings = get_settings()
    shutil.rmtree(folder, ignore_errors=True)
    sim_dir, warehouse = folder / "simulation", folder / "warehouse.duckdb"
    cfg = SimConfig(users=users, days=days, seed=seed)
    out.print(f"[bold]1/4 模拟 {users:,} 名患者 × {days} 天[/] (seed {seed}) → {sim_dir}")
    with progress_bar(False) as (bar, task):
        bar.update(task, total=cfg.users)
        simulate(cfg, sim_dir, progress=lambda done, total: bar.update(task, completed=done))
    out.print(f"[bold]2/4 导入仓库[/] → duckdb:///{warehouse}")
    con = connect(f"duckdb:///{warehouse}")
    create_tables(con)
    report = ingest_paths(con, table_paths(sim_dir), settings=settings)
    engine = connect_state(state_url_for(f"duckdb:///{warehouse}", settings))
    migrate(engine)
    audit(engine, "demo", target=str(folder), detail={"users": users, "days": days})
    print_report(report, settings.lang)
    as_of = cfg.start + dt.timedelta(days=days)
    out.print(f"[bold]3/4 标签与分层[/] as of {as_of}")
    with out.status("computing tags …"):
        tagged = store_snapshot(con, as_of)
        counts = layer_counts(con, as_of, lang=settings.lang)
    out.print(f"已计算 {tagged:,} 位患者的标签")
    out.print(rich_table("用户分层 Layers", *counts_table(counts, settings.lang)))
    out.print("[bold]4/4 概况[/]")
    print_summary(sim_dir)
    out.print(f"\n仓库 / warehouse: duckdb:///{warehouse}\n"
              f"让后续命令使用演示仓库 / make the next commands use it:\n"
              f"  export CAREOPS_WAREHOUSE=duckdb:///{warehouse.resolve()}\n"
              f"试试 / try: careops tables\n"
              f'          careops sql "SELECT department, count(*) FROM consultations GROUP BY 1 '
              f'ORDER BY 2 DESC"\n'
              f"          careops layers --as-of {as_of}\n"
              f'          careops segment count --where \'searched("失眠", within="30d")\' '
              f"--as-of {as_of}\n"
              f"          careops report --as-of {as_of} --out report.html",
              soft_wrap=True, highlight=False)
    raise typer.Exit(report.exit_code)
