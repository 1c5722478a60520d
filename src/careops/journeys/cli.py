"""`careops journeys validate|list|show`: check definition files, list the catalogue, show one.

Thin shell over careops.journeys.definition and .catalogue: parses, calls, prints (Rich tables
in Chinese by default, `--lang en`, or `--json`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from careops.cliutil import JsonOpt, LangOpt, err, lang_of, print_json, rich_table, safe
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
