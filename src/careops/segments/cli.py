"""`careops segment …`: count, sample, export, save and follow segments."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from careops.cliutil import WarehouseOpt, err, open_warehouse
from careops.config import get_settings
from careops.segments.errors import RuleError
from careops.tags.context import parse_as_of

segment_app = typer.Typer(help="人群圈选 Segments from tags and events.", no_args_is_help=True)
out = Console()

WHERE = typer.Option(..., "--where", help='rule, e.g. \'searched("失眠", within="30d") and '
                     'sex == "F"\', JSON, or @file.yaml')
AS_OF = typer.Option(..., "--as-of", help="as-of date YYYY-MM-DD")
JSON = typer.Option(False, "--json", help="print JSON for machines")
OUT = typer.Option(..., "--out", help="file.csv or file.parquet")


def read_rule(where: str):
    """A rule from --where: text, JSON, or @path to a YAML/JSON file."""
    if not where.startswith("@"):
        return where
    path = Path(where[1:])
    if not path.is_file():
        raise RuleError(f"--where {where}: no such file")
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise RuleError(f"{path}: not valid YAML/JSON: {exc}") from None
    return data if isinstance(data, dict) else str(data)


def _warn(con, rule) -> None:
    """Print (to stderr) event-condition values the warehouse never has, with the closest."""
    from careops.segments.vocab import rule_warnings

    lang = get_settings().lang
    for line in rule_warnings(con, rule, lang):
        err.print(f"{'提示' if lang == 'zh' else 'note'}: {line}", style="yellow",
                  highlight=False, soft_wrap=True)


def _empty_note(n: int) -> None:
    if n == 0:
        out.print("没有患者符合条件 / no patient matches this rule", style="yellow")


@segment_app.command("count")
def count_cmd(where: str = WHERE, as_of: str = AS_OF, warehouse: WarehouseOpt = None,
              as_json: bool = JSON) -> None:
    """How many patients match."""
    from careops.segments.evaluate import count

    con, rule = open_warehouse(warehouse), read_rule(where)
    _warn(con, rule)
    n = count(con, rule, parse_as_of(as_of))
    if as_json:
        print(json.dumps({"as_of": as_of, "count": n}))
        return
    out.print(f"{n} 位患者 / patients")
    _empty_note(n)


@segment_app.command("sample")
def sample_cmd(where: str = WHERE, as_of: str = AS_OF, warehouse: WarehouseOpt = None,
               limit: int = typer.Option(10, "--limit"), as_json: bool = JSON) -> None:
    """The first matching patients (by id) with the tags the rule reads."""
    from careops.segments.evaluate import sample

    con, rule = open_warehouse(warehouse), read_rule(where)
    _warn(con, rule)
    rows = sample(con, rule, parse_as_of(as_of), limit)
    if as_json:
        print(json.dumps(rows, ensure_ascii=False, default=str))
        return
    _empty_note(len(rows))
    if rows:
        table = Table(*rows[0].keys())
        for r in rows:
            table.add_row(*("—" if v is None else str(v) for v in r.values()))
        out.print(table)


@segment_app.command("export")
def export_cmd(where: str = WHERE, as_of: str = AS_OF,
               output: Path = OUT,
               columns: str = typer.Option("", "--columns", help="extra tags, comma-separated"),
               warehouse: WarehouseOpt = None) -> None:
    """Write the matching patients to CSV or Parquet."""
    from careops.segments.evaluate import export

    cols = [c.strip() for c in columns.split(",") if c.strip()]
    con = open_warehouse(warehouse)
    rule = read_rule(where)
    _warn(con, rule)
    n = export(con, rule, parse_as_of(as_of), output, columns=cols)
    out.print(f"{n} 位患者 → {output}")
    _empty_note(n)


@segment_app.command("save")
def save_cmd(name: str, where: str = WHERE,
             description: str = typer.Option("", "--description"),
             warehouse: WarehouseOpt = None) -> None:
    """Save a rule under a name (in the warehouse table segment_definitions)."""
    from careops.segments.saved import save_segment

    con, rule = open_warehouse(warehouse), read_rule(where)
    seg = save_segment(con, name, rule, description)
    out.print(f"已保存 / saved {seg.name}: {seg.text}")
    _warn(con, rule)


@segment_app.command("list")
def list_cmd(warehouse: WarehouseOpt = None, as_json: bool = JSON) -> None:
    """The saved segments."""
    from careops.segments.saved import list_segments

    segs = list_segments(open_warehouse(warehouse))
    if as_json:
        print(json.dumps([{"name": s.name, "rule": s.text, "description": s.description,
                           "saved_at": str(s.saved_at)} for s in segs], ensure_ascii=False))
        return
    table = Table("name", "rule", "description", "saved_at")
    for s in segs:
        table.add_row(s.name, s.text, s.description, str(s.saved_at))
    out.print(table)


@segment_app.command("refresh")
def refresh_cmd(name: str, as_of: str = AS_OF, warehouse: WarehouseOpt = None) -> None:
    """Evaluate a saved segment as of a date and record its members."""
    from careops.segments.saved import refresh_members

    n = refresh_members(open_warehouse(warehouse), name, parse_as_of(as_of))
    out.print(f"{name} @ {as_of}: {n} 位患者 / members")
    _empty_note(n)


@segment_app.command("history")
def history_cmd(name: str, warehouse: WarehouseOpt = None, as_json: bool = JSON) -> None:
    """Members per evaluated date, with entries and exits."""
    from careops.segments.saved import membership_history

    rows = membership_history(open_warehouse(warehouse), name)
    if as_json:
        print(json.dumps(rows, default=str))
        return
    table = Table("as_of", "members", "entered", "left")
    for r in rows:
        table.add_row(str(r["as_of"]), str(r["members"]), str(r["entered"] or "—"),
                      str(r["left"] or "—"))
    out.print(table)
