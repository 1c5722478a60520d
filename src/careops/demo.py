"""`careops demo`: a simulated hospital, ingested into a fresh warehouse, summarised.

The folder is the demo's own: CareOps writes a marker (`.careops-demo`) into it when it makes
it, and only ever clears a folder that is empty or carries that marker — a folder of anything
else is refused, never deleted. A demo warehouse someone has worked in since (later loads,
audit entries, tag snapshots, experiments) is not overwritten without `--yes`. Only the
demo's own entries are removed when starting over; any other file in the folder stays.

The functions above `demo()` are the service (no Typer, no Rich, no languages); `demo()` is the
shell that prints.
"""

from __future__ import annotations

import datetime as dt
import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from careops.cliutil import out, rich_table, safe
from careops.config import Settings, get_settings
from careops.errors import ConfigError
from careops.labels import label

if TYPE_CHECKING:
    from careops.ingest.pipeline import IngestReport
    from careops.service import Ops
    from careops.sim import SimConfig
    from careops.tags.layers_report import LayerCount

MARKER = ".careops-demo"
SIMULATION, WAREHOUSE, STATE = "simulation", "warehouse.duckdb", "warehouse.state.db"
CONFIG = "careops.yaml"  # the demo's own keys (never shared with any other warehouse)
#: what a demo folder holds (removed when the demo starts over; nothing else is touched)
OWN_ENTRIES = (
    SIMULATION,
    WAREHOUSE,
    f"{WAREHOUSE}.wal",
    STATE,
    f"{STATE}-journal",
    CONFIG,
    MARKER,
)


class DemoFolderError(ConfigError):
    """The demo folder cannot be (re)made without losing something that is not the demo's."""


@dataclass(frozen=True)
class DemoUse:
    """What was done in a demo warehouse after the demo made it."""

    loads: int = 0
    audit: int = 0
    snapshots: int = 0
    experiments: int = 0

    def __bool__(self) -> bool:
        return any((self.loads, self.audit, self.snapshots, self.experiments))

    def items(self) -> list[tuple[str, int]]:
        return [
            (k, n)
            for k, n in (
                ("loads", self.loads),
                ("audit", self.audit),
                ("snapshots", self.snapshots),
                ("experiments", self.experiments),
            )
            if n
        ]


@dataclass
class DemoResult:
    folder: Path
    warehouse_url: str
    as_of: dt.date
    report: IngestReport
    tagged: int
    counts: list[LayerCount] = field(default_factory=list)
    #: the demo's cockpit login (operations role), its password made for this demo only
    account: tuple[str, str] | None = None


def warehouse_url(folder: Path) -> str:
    return f"duckdb:///{folder / WAREHOUSE}"


def read_marker(folder: Path) -> dict | None:
    """The demo's marker in `folder`, None when there is none (not a demo folder)."""
    path = folder / MARKER
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def demo_use(folder: Path, marker: dict, state_url: str) -> DemoUse:
    """Loads, audit entries, snapshots and experiments beyond those the demo made itself."""
    loads = snapshots = 0
    if (folder / WAREHOUSE).exists():
        from careops.tags.snapshot import snapshot_dates
        from careops.warehouse import warehouse

        with warehouse(warehouse_url(folder), read_only=True) as con:
            tables = con.list_tables()
            if "_loads" in tables:
                ids = set(con.table("_loads").load_id.to_pyarrow().to_pylist())
                loads = len(ids - set(marker.get("loads", [])))
            own = set(marker.get("snapshots", []))
            snapshots = sum(d.isoformat() not in own for d in snapshot_dates(con))
    audit = experiments = 0
    state_file = folder / STATE
    if state_url == f"sqlite:///{state_file}" and state_file.exists():
        import sqlalchemy as sa

        engine = sa.create_engine(state_url)
        try:
            with engine.connect() as conn:
                names = set(sa.inspect(conn).get_table_names())

                def count(t: str) -> int:
                    if t not in names:
                        return 0
                    return conn.execute(sa.text(f'SELECT count(*) FROM "{t}"')).scalar_one()

                audit = max(0, count("audit_log") - int(marker.get("audit_rows", 0)))
                experiments = count("experiments")
        finally:
            engine.dispose()
    return DemoUse(loads, audit, snapshots, experiments)


def _both(key: str, **fields: object) -> str:
    """A message in Chinese, then English (how CareOps errors read)."""
    return f"{label(key, 'zh', **fields)} / {label(key, 'en', **fields)}"


def prepare_folder(folder: Path, state_url: str, *, start_over: bool = False) -> None:
    """Make `folder` ready for a new demo: create it, or clear the demo's own entries of an
    earlier demo. Refuses (DemoFolderError) a folder CareOps did not make, and one whose demo
    warehouse was used since, unless `start_over`."""
    if folder.exists() and not folder.is_dir():
        raise DemoFolderError(_both("demo.refuse_foreign", folder=folder))
    if folder.exists() and any(folder.iterdir()):
        marker = read_marker(folder)
        if marker is None:
            raise DemoFolderError(_both("demo.refuse_foreign", folder=folder))
        # a demo cut short (state "creating") holds only the demo's own half-made work
        use = demo_use(folder, marker, state_url) if marker.get("state") == "ready" else None
        if use and not start_over:
            zh, en = (
                label(
                    "demo.refuse_used",
                    lang,
                    folder=folder,
                    what=", ".join(label(f"demo.used_{k}", lang, n=n) for k, n in use.items()),
                )
                for lang in ("zh", "en")
            )
            raise DemoFolderError(f"{zh} / {en}")
        for name in OWN_ENTRIES:
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            elif path.exists() or path.is_symlink():
                path.unlink()
    folder.mkdir(parents=True, exist_ok=True)
    _write_marker(folder, {"state": "creating"})


def _write_marker(folder: Path, data: dict) -> None:
    body = {"made_by": "careops demo", "created": dt.datetime.now(dt.UTC).isoformat(), **data}
    (folder / MARKER).write_text(json.dumps(body, indent=2), encoding="utf-8")


def demo_settings(folder: Path, settings: Settings) -> tuple[Settings, Path | None]:
    """The settings the demo runs with. Where the caller set no contacts key or pseudonym key,
    a random one is made for this demo only and written, with the demo warehouse, to
    `folder/careops.yaml` (readable by its owner only), so the simulated contacts are sealed and
    later commands reach them with `CAREOPS_CONFIG=folder/careops.yaml`. No key is ever built
    in: each demo gets its own. Returns the settings and the file written (None: none)."""
    import base64
    import os
    import secrets

    import yaml
    from pydantic import SecretStr

    p = settings.privacy
    made: dict[str, str] = {}
    if p.contacts_key is None:
        made["contacts_key"] = base64.b64encode(os.urandom(32)).decode("ascii")
    if p.pseudonym_key is None:
        made["pseudonym_key"] = secrets.token_urlsafe(32)
    if not made:
        return settings, None
    path = folder / CONFIG
    body = {"warehouse": warehouse_url(folder), "privacy": made}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write("# careops demo: keys made for this demo warehouse only\n")
        yaml.safe_dump(body, f, allow_unicode=True, sort_keys=False)
    privacy = p.model_copy(update={k: SecretStr(v) for k, v in made.items()})
    return settings.model_copy(update={"privacy": privacy}), path


def run_demo(
    ops: Ops,
    folder: Path,
    cfg: SimConfig,
    *,
    progress: Callable[[int, int], None] | None = None,
    phase: Callable[[str], None] | None = None,
) -> DemoResult:
    """Simulate `cfg` into `folder`, ingest it into the folder's warehouse (`ops`), store the
    tag snapshot at the end of the simulation and count the layers. `phase(name)` is called
    before each step (simulate, ingest, tags)."""
    from careops.ingest.pipeline import ingest_paths
    from careops.sim import simulate, table_paths
    from careops.tags.layers_report import layer_counts
    from careops.tags.snapshot import store_snapshot
    from careops.warehouse import create_tables

    step = phase or (lambda name: None)
    step("simulate")
    simulate(cfg, folder / SIMULATION, progress=progress)
    as_of = cfg.start + dt.timedelta(days=cfg.days)
    step("ingest")
    with ops.warehouse() as con:
        create_tables(con)
        report = ingest_paths(con, table_paths(folder / SIMULATION), settings=ops.settings)
        step("tags")
        tagged = store_snapshot(con, as_of, settings=ops.settings)
        counts = layer_counts(con, as_of, settings=ops.settings)
    loads = sorted({f.load_id for f in report.files if f.load_id})
    ops.audit(
        "demo",
        target=str(folder),
        detail={"users": cfg.users, "days": cfg.days, "seed": cfg.seed, "loads": len(loads)},
    )
    account = _demo_account(ops)
    with ops.state.connect() as conn:
        import sqlalchemy as sa

        audit_rows = conn.execute(sa.text("SELECT count(*) FROM audit_log")).scalar_one()
    _write_marker(
        folder,
        {
            "state": "ready",
            "users": cfg.users,
            "days": cfg.days,
            "seed": cfg.seed,
            "loads": loads,
            "snapshots": [as_of.isoformat()],
            "audit_rows": audit_rows,
        },
    )
    return DemoResult(folder, ops.warehouse_url, as_of, report, tagged, counts, account)


DEMO_ACCOUNT = "demo-ops"


def _demo_account(ops: Ops) -> tuple[str, str]:
    """An operations account for trying the cockpit on the demo, with a password made now
    (never a fixed one: a demo left running must not open with a known password)."""
    import secrets

    from careops.identity.accounts import add_user

    password = secrets.token_urlsafe(12)
    add_user(ops, DEMO_ACCOUNT, "operations", password, display_name="演示运营")
    return DEMO_ACCOUNT, password


# ---- the shell ---------------------------------------------------------------------------


def demo(
    users: Annotated[int, typer.Option(help="模拟患者数 / patients")] = 20_000,
    days: Annotated[int, typer.Option(help="模拟天数 / days")] = 365,
    seed: Annotated[int, typer.Option(help="随机种子 / seed")] = 0,
    folder: Annotated[Path, typer.Option("--dir", help="演示数据目录 / demo folder")] = Path(
        "careops-data/demo"
    ),
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="演示仓库被使用过也重新生成 / start over "
            "even if the demo warehouse was used since",
        ),
    ] = False,
) -> None:
    """演示: 模拟一家互联网医院, 导入仓库, 打印概况 / Simulate, ingest and summarise a hospital."""
    from careops.service import Ops, state_url_for
    from careops.sim import SimConfig
    from careops.sim.cli import progress_bar
    from careops.sim.view import print_summary
    from careops.tags.layers_view import counts_table

    settings = get_settings()
    lang = settings.lang
    url = warehouse_url(folder)
    cfg = SimConfig(users=users, days=days, seed=seed)
    prepare_folder(folder, state_url_for(url, settings), start_over=yes)
    settings, config_file = demo_settings(folder, settings)
    ops = Ops.open(url, settings=settings)
    titles = {
        "simulate": label("demo.simulate", lang, users=f"{users:,}", days=days)
        + f" (seed {seed}) → {folder / SIMULATION}",
        "ingest": f"{label('demo.ingest', lang)} → {url}",
        "tags": label("demo.tags", lang),
    }
    try:
        with progress_bar(False) as (bar, task):
            bar.update(task, total=cfg.users)

            def phase(name: str) -> None:
                if name != "simulate":
                    bar.stop()  # the bar counts simulated patients only
                out.print(f"[bold]{safe(titles[name])}[/]")

            result = run_demo(
                ops,
                folder,
                cfg,
                phase=phase,
                progress=lambda done, total: bar.update(task, completed=done),
            )
    finally:
        ops.close()
    print_ingest(result.report, lang)
    out.print(safe(label("demo.tagged", lang, n=f"{result.tagged:,}")))
    out.print(rich_table(label("demo.layers_title", lang), *counts_table(result.counts, lang)))
    out.print(f"[bold]{safe(label('demo.summary', lang))}[/]")
    print_summary(folder / SIMULATION, out, lang)
    as_of = result.as_of
    path = (folder / WAREHOUSE).resolve()
    out.print(
        f"\n{safe(label('demo.warehouse', lang))}: {safe(url)}\n"
        f"{safe(label('demo.use_it', lang))}:\n"
        + (
            f"  export CAREOPS_CONFIG={safe(config_file.resolve())}\n"
            if config_file
            else f"  export CAREOPS_WAREHOUSE=duckdb:///{safe(path)}\n"
        )
        + f"{safe(label('demo.try', lang))}: careops tables\n"
        f'          careops sql "SELECT department, count(*) FROM consultations GROUP BY 1 '
        f'ORDER BY 2 DESC"\n'
        f"          careops layers --as-of {as_of}\n"
        f'          careops segment count --where \'searched("失眠", within="30d")\' '
        f"--as-of {as_of}\n"
        f"          careops report --as-of {as_of} --out report.html\n"
        + (
            f"{safe(label('demo.cockpit', lang))}: careops serve  →  http://127.0.0.1:8000/cockpit/\n"
            f"          {safe(label('demo.login', lang))}: {result.account[0]} / "
            f"{safe(result.account[1])}"
            if result.account
            else ""
        ),
        soft_wrap=True,
        highlight=False,
    )
    raise typer.Exit(result.report.exit_code)


def print_ingest(report: IngestReport, lang: str) -> None:
    """The ingestion counts per table, and any file that did not load cleanly."""
    from careops.i18n import translate

    out.print(
        rich_table(
            label("ingest.ingest_title", lang),
            [
                label(f"ingest.{k}", lang)
                for k in ("table", "loaded", "duplicates", "quarantined", "flagged")
            ],
            [
                [t, c["loaded"], c["duplicates"], c["quarantined"], c["flagged"]]
                for t, c in sorted(report.tables.items())
            ],
        )
    )
    rows = [
        [
            Path(f.source).name,
            label(f"ingest.{f.status}_status", lang),
            translate(f.message or "; ".join(f.warnings), lang),
        ]
        for f in report.files
        if f.status != "loaded" or f.warnings
    ]
    if rows:
        out.print(
            rich_table(
                label("ingest.files_title", lang),
                [label(f"ingest.{k}", lang) for k in ("source", "status", "reason")],
                rows,
            )
        )
