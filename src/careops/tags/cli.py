"""`careops tags …` and `careops layers …`: thin shells over the tag and layer functions."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from careops.asof import parse_as_of
from careops.cliutil import WarehouseOpt, ops, safe
from careops.config import get_settings

tags_app = typer.Typer(help="用户标签 Patient tags: compute, show, list.", no_args_is_help=True)
layers_app = typer.Typer(help="用户分层 Layers: counts per layer, migration, history.")
out = Console()

AS_OF = typer.Option(..., "--as-of", help="as-of date YYYY-MM-DD (facts before it count)")
JSON = typer.Option(False, "--json", help="print JSON for machines")
LANG = typer.Option(None, "--lang", help="zh or en (default: settings)")


def _lang(lang: str | None) -> str:
    lang = lang or get_settings().lang
    if lang not in ("zh", "en"):
        from careops.errors import ConfigError

        raise ConfigError(f"--lang {lang!r}: use zh or en")
    return lang


def _dump(data) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, default=str))


@tags_app.command("compute")
def compute(as_of: str = AS_OF, warehouse: WarehouseOpt = None) -> None:
    """Compute every tag as of a date and store it as that day's snapshot."""
    from careops.tags import service

    day = parse_as_of(as_of)
    with out.status(f"computing tags as of {day} …"):
        done = service.compute(ops(warehouse), day)
    out.print(
        f"已计算 {done.patients} 位患者的标签 / tagged {done.patients} patients → {done.table}"
    )


@tags_app.command("show")
def show(
    user_id: str,
    as_of: str = AS_OF,
    warehouse: WarehouseOpt = None,
    as_json: bool = JSON,
    lang: str | None = LANG,
) -> None:
    """A patient's full portrait as of a date."""
    from careops.tags import service
    from careops.tags.portrait import labelled, summary, tier_note

    lang = _lang(lang)
    tags = service.portrait(ops(warehouse), user_id, parse_as_of(as_of)).tags
    note = tier_note(tags, lang)
    if as_json:
        _dump(
            {
                "user_id": user_id,
                "as_of": as_of,
                "summary": summary(tags, lang),
                "notes": [note] if note else [],
                "tags": tags,
            }
        )
        return
    out.print(f"[bold]{safe(user_id)}[/]: {safe(summary(tags, lang))}")
    if note:
        out.print(safe(note), style="dim", highlight=False, soft_wrap=True)
    table = Table("tag", "标签" if lang == "zh" else "label", "值" if lang == "zh" else "value")
    for name, label, value in labelled(tags, lang):
        table.add_row(name, label, safe(value))
    out.print(table)


@tags_app.command("list")
def list_tags(as_json: bool = JSON, lang: str | None = LANG) -> None:
    """The tag registry: name, label, kind, type."""
    from careops.labels import tag_description
    from careops.tags.registry import all_tags

    lang = _lang(lang)
    rows = [
        {
            "name": t.name,
            "label": t.label(lang),
            "kind": t.kind,
            "type": t.type,
            "values": list(t.codes),
            "description": tag_description(t.name, lang),
        }
        for t in all_tags()
    ]
    if as_json:
        _dump(rows)
        return
    heads = (
        ("标签", "名称", "类别", "类型", "说明")
        if lang == "zh"
        else ("tag", "label", "kind", "type", "description")
    )
    table = Table(*heads)
    for r in rows:
        table.add_row(r["name"], r["label"], r["kind"], r["type"], r["description"])
    out.print(table)


def _print_table(headers: list[str], rows: list[list[str]], numeric_from: int = 1) -> None:
    table = Table()
    for i, h in enumerate(headers):
        table.add_column(h, justify="right" if i >= numeric_from else "left")
    for r in rows:
        table.add_row(*(safe(c) for c in r))
    out.print(table)


@layers_app.callback(invoke_without_command=True)
def layers(
    ctx: typer.Context,
    as_of: str | None = typer.Option(None, "--as-of"),
    warehouse: WarehouseOpt = None,
    as_json: bool = JSON,
    lang: str | None = LANG,
) -> None:
    """Users per layer of each dimension, with shares (`careops layers --as-of D`)."""
    if ctx.invoked_subcommand is not None:
        return
    from careops.errors import ConfigError
    from careops.tags import service
    from careops.tags.layers_view import counts_json, counts_table

    if as_of is None:
        raise ConfigError("--as-of is required: careops layers --as-of YYYY-MM-DD")
    lang = _lang(lang)
    result = service.layers(ops(warehouse), parse_as_of(as_of))
    if as_json:
        _dump(counts_json(result.counts, lang))
        return
    _print_table(*counts_table(result.counts, lang), numeric_from=2)
    _snapshot_note(result.as_of, result.stale, lang)


def _snapshot_note(day, why: str | None, lang: str) -> None:
    """Say so when a stored snapshot of the day was bypassed (other settings, or older than the
    latest load) and the answer was computed live."""
    if why is None:
        return
    fix = f"careops tags compute --as-of {day}"
    if lang == "zh":
        reason = "是用旧设置计算的" if why == "settings" else "早于之后载入的数据"
        text = f"提示: {day} 的标签快照{reason}, 上表为实时计算; 更新快照: {fix}"
    else:
        reason = (
            "was made with other settings" if why == "settings" else "predates data loaded since"
        )
        text = f"note: the tag snapshot of {day} {reason}; computed live. Update it: {fix}"
    out.print(text, style="yellow")


@layers_app.command("migrate")
def migrate(
    start: str = typer.Option(..., "--from"),
    end: str = typer.Option(..., "--to"),
    dimension: str = typer.Option("lifecycle", "--dimension"),
    warehouse: WarehouseOpt = None,
    as_json: bool = JSON,
    lang: str | None = LANG,
) -> None:
    """The migration matrix of a layer dimension between two dates."""
    from careops.tags import service
    from careops.tags.layers_view import migration_table

    lang = _lang(lang)
    d1, d2 = parse_as_of(start), parse_as_of(end)
    result = service.migration(ops(warehouse), d1, d2, dimension)
    if as_json:
        _dump(result.rows)
        return
    _print_table(*migration_table(result.rows, dimension, d1, d2, lang))
    for day, why in result.stale.items():
        _snapshot_note(day, why, lang)


@layers_app.command("history")
def history(
    user_id: str | None = typer.Option(None, "--user", help="one patient only"),
    dimension: str = typer.Option("lifecycle", "--dimension"),
    limit: int = typer.Option(50, "--limit", help="rows to show (default 50)"),
    warehouse: WarehouseOpt = None,
    as_json: bool = JSON,
    lang: str | None = LANG,
) -> None:
    """Layer changes per user across the stored daily snapshots."""
    from careops.tags import service
    from careops.tags.layers_view import history_table, omitted_note

    lang = _lang(lang)
    hist = service.history(ops(warehouse), user_id, dimension, limit)
    if as_json:
        _dump({"total": hist.total, "omitted": hist.omitted, "rows": hist.rows})
        return
    _print_table(*history_table(hist, dimension, lang), numeric_from=99)
    note = omitted_note(hist, lang)
    if note:
        out.print(note, style="yellow")


def cluster_command(
    as_of: str = AS_OF,
    warehouse: WarehouseOpt = None,
    k_min: int = typer.Option(2, "--k-min"),
    k_max: int = typer.Option(8, "--k-max"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = JSON,
) -> None:
    """聚类分层 K-Means on behaviour and value features; proposes named, data-driven layers."""
    from careops.tags.cluster import cluster_patients, layers_text

    with ops(warehouse).warehouse(read_only=True) as con:
        result = cluster_patients(con, parse_as_of(as_of), k_range=(k_min, k_max), seed=seed)
    if as_json:
        _dump(result.to_dict())
        return
    out.print(
        f"k = {result.k} (silhouette {result.silhouette:.3f}; "
        + ", ".join(f"k={k}: {s:.3f}" for k, s in result.scores.items())
        + ")"
    )
    table = Table("群", "名称", "用户数", "占比", "主要特征", "偏多的分层")
    for c in result.clusters:
        table.add_row(
            str(c.cluster),
            c.name_zh,
            f"{c.size:,}",
            f"{c.share:.1%}",
            "; ".join(c.traits),
            layers_text(c) or "—",
        )
    out.print(table)
