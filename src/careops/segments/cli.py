"""`careops segment …`: count, sample, export, save, list, delete and follow segments.

Thin shell over `careops.segments.service`: parses options, calls the service, prints. Every
data value (names, rules, descriptions, tag values) is printed through `safe` / `rich_table`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from careops.asof import parse_as_of
from careops.cliutil import WarehouseOpt, err, ops, out, print_json, rich_table, safe
from careops.config import get_settings
from careops.segments.errors import RuleError

segment_app = typer.Typer(help="人群圈选 Segments from tags and events.", no_args_is_help=True)

WHERE = typer.Option(
    None,
    "--where",
    help='rule, e.g. \'searched("失眠", within="30d") and sex == "F"\', JSON, or @file.yaml',
)
SEGMENT = typer.Option(None, "--segment", help="a saved segment's name (instead of --where)")
SAVE_WHERE = typer.Option(
    ...,
    "--where",
    help='rule, e.g. \'searched("失眠", within="30d") and sex == "F"\', JSON, or @file.yaml',
)
AS_OF = typer.Option(..., "--as-of", help="as-of date YYYY-MM-DD")
JSON = typer.Option(False, "--json", help="print JSON for machines")
OUT = typer.Option(..., "--out", help="file.csv or file.parquet")
STATE = typer.Option(None, "--state", help="state store URL (default: beside the warehouse)")


def _call(service_function, warehouse, state, *args, **kwargs):
    """Run a service function in a fresh service context, released afterwards."""
    context = ops(warehouse, state)
    try:
        return service_function(context, *args, **kwargs)
    finally:
        context.close()


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
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise RuleError(f"{path}: not valid YAML/JSON: {exc}") from None
    return data if isinstance(data, dict) else str(data)


def _target(where: str | None, segment: str | None):
    from careops.segments.service import Target

    if (where is None) == (segment is None):
        raise RuleError(
            "give a rule with --where RULE or a saved segment with --segment NAME (one of the two)"
        )
    return Target(rule=read_rule(where)) if where is not None else Target(segment=segment)


def _notes(lines: list[str]) -> None:
    """Print (to stderr) event-condition values the warehouse never has, with the closest."""
    lang = get_settings().lang
    for line in lines:
        err.print(
            f"{'提示' if lang == 'zh' else 'note'}: {safe(line)}",
            style="yellow",
            highlight=False,
            soft_wrap=True,
        )


def _empty_note(n: int) -> None:
    if n == 0:
        out.print("没有患者符合条件 / no patient matches this rule", style="yellow")


@segment_app.command("count")
def count_cmd(
    where: str | None = WHERE,
    segment: str | None = SEGMENT,
    as_of: str = AS_OF,
    warehouse: WarehouseOpt = None,
    state: str | None = STATE,
    as_json: bool = JSON,
) -> None:
    """How many patients match."""
    from careops.segments.service import count

    result = _call(
        count, warehouse, state, _target(where, segment), parse_as_of(as_of), get_settings().lang
    )
    _notes(result.notes)
    if as_json:
        print_json({"as_of": as_of, "count": result.count})
        return
    out.print(f"{result.count} 位患者 / patients")
    _empty_note(result.count)


@segment_app.command("sample")
def sample_cmd(
    where: str | None = WHERE,
    segment: str | None = SEGMENT,
    as_of: str = AS_OF,
    warehouse: WarehouseOpt = None,
    state: str | None = STATE,
    limit: int = typer.Option(10, "--limit"),
    as_json: bool = JSON,
) -> None:
    """The first matching patients (by id) with the tags the rule reads."""
    from careops.segments.service import sample

    result = _call(
        sample,
        warehouse,
        state,
        _target(where, segment),
        parse_as_of(as_of),
        limit,
        get_settings().lang,
    )
    _notes(result.notes)
    rows = result.rows
    if as_json:
        print_json(rows)
        return
    _empty_note(len(rows))
    if rows:
        out.print(
            rich_table(
                "",
                list(rows[0].keys()),
                [["—" if v is None else v for v in r.values()] for r in rows],
            )
        )


@segment_app.command("export")
def export_cmd(
    where: str | None = WHERE,
    segment: str | None = SEGMENT,
    as_of: str = AS_OF,
    output: Path = OUT,
    columns: str = typer.Option("", "--columns", help="extra tags, comma-separated"),
    warehouse: WarehouseOpt = None,
    state: str | None = STATE,
) -> None:
    """Write the matching patients to CSV or Parquet (the export is audited)."""
    from careops.segments.service import export

    cols = [c.strip() for c in columns.split(",") if c.strip()]
    result = _call(
        export,
        warehouse,
        state,
        _target(where, segment),
        parse_as_of(as_of),
        output,
        cols,
        get_settings().lang,
    )
    _notes(result.notes)
    out.print(f"{result.count} 位患者 → {safe(output)}（已记入审计日志 / audited）")
    _empty_note(result.count)


@segment_app.command("save")
def save_cmd(
    name: str,
    where: str = SAVE_WHERE,
    description: str = typer.Option("", "--description"),
    warehouse: WarehouseOpt = None,
    state: str | None = STATE,
) -> None:
    """Save a rule under a name (in the state store; saving again makes a new version)."""
    from careops.segments.saved import SegmentCreate
    from careops.segments.service import save

    seg, notes = _call(
        save,
        warehouse,
        state,
        SegmentCreate(name=name, rule=read_rule(where), description=description),
        get_settings().lang,
    )
    out.print(f"已保存 / saved {safe(seg.name)} (v{seg.version}): {safe(seg.text)}")
    _notes(notes)


@segment_app.command("list")
def list_cmd(
    warehouse: WarehouseOpt = None, state: str | None = STATE, as_json: bool = JSON
) -> None:
    """The saved segments."""
    from careops.segments.service import list_saved

    segs = [s.public() for s in _call(list_saved, warehouse, state)]
    if as_json:
        print_json([s.model_dump(mode="json") for s in segs])
        return
    from careops.experiments.definition import hospital_time

    zone = get_settings().timezone
    out.print(
        rich_table(
            "",
            ["name", "version", "rule", "description", f"saved_at ({zone})"],
            [
                [s.name, s.version, s.rule, s.description, hospital_time(s.saved_at, zone=False)]
                for s in segs
            ],
        )
    )


@segment_app.command("delete")
def delete_cmd(name: str, warehouse: WarehouseOpt = None, state: str | None = STATE) -> None:
    """Delete a saved segment (its versions stay in the history); audited."""
    from careops.segments.service import delete

    seg = _call(delete, warehouse, state, name)
    out.print(f"已删除 / deleted {safe(seg.name)} (v{seg.version})（已记入审计日志 / audited）")


@segment_app.command("refresh")
def refresh_cmd(
    name: str, as_of: str = AS_OF, warehouse: WarehouseOpt = None, state: str | None = STATE
) -> None:
    """Evaluate a saved segment as of a date and record its members."""
    from careops.segments.service import refresh

    n = _call(refresh, warehouse, state, name, parse_as_of(as_of))
    out.print(f"{safe(name)} @ {as_of}: {n} 位患者 / members")
    _empty_note(n)


@segment_app.command("history")
def history_cmd(
    name: str, warehouse: WarehouseOpt = None, state: str | None = STATE, as_json: bool = JSON
) -> None:
    """Members per evaluated date, with entries and exits."""
    from dataclasses import asdict

    from careops.segments.service import history

    rows = _call(history, warehouse, state, name)
    if as_json:
        print_json([asdict(r) for r in rows])
        return
    out.print(
        rich_table(
            "",
            ["as_of", "members", "entered", "left"],
            [[r.as_of, r.members, r.entered or "—", r.left or "—"] for r in rows],
        )
    )
