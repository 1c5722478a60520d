"""`careops dose check|list`: the paediatric dosage check from the command line.

Thin shell over `careops.care.dose`: parses, calls, prints (Chinese by default, `--lang en`, or
`--json`). Exit codes: 0 allowed, 1 blocked, 2 bad input (unknown drug, implausible weight…).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from careops.cliutil import JsonOpt, LangOpt, lang_of, print_json, rich_table, safe

dose_app = typer.Typer(
    help="儿童剂量计算 Paediatric dosage: check an order against the limits, list the drugs.",
    no_args_is_help=True,
)
out = Console()

TableOpt = Annotated[
    Path | None,
    typer.Option(
        "--table",
        help="医院自有剂量表 YAML (默认内置表) / the hospital's own dose table (default: shipped)",
    ),
]


def _table(path: Path | None):
    from careops.care.dose_table import load_file, shipped

    return shipped() if path is None else load_file(path)


#: the flag that sets each field a dose error names
_FLAGS = {
    "drug": "--drug",
    "age_months": "--age-months",
    "weight_kg": "--weight-kg",
    "dose": "--dose-mg / --dose-ml / --dose-iu",
    "dose_mg": "--dose-mg",
    "dose_ml": "--dose-ml",
    "dose_iu": "--dose-iu",
    "per_day": "--per-day",
}


def _with_flag(exc: Exception) -> Exception:
    from careops.errors import CareOpsError

    flag = _FLAGS.get(getattr(exc, "field", None) or "")
    if isinstance(exc, CareOpsError) and flag and flag not in str(exc):
        return type(exc)(f"{exc} ({flag})", field=exc.field)
    return exc


@dose_app.command("check")
def check_command(
    drug: Annotated[str, typer.Option("--drug", help="药品名/别名/ATC / drug name, alias or ATC")],
    age_months: Annotated[float, typer.Option("--age-months", help="年龄(月) / age in months")],
    weight_kg: Annotated[float, typer.Option("--weight-kg", help="体重 kg / weight in kg")],
    dose_mg: Annotated[
        float | None, typer.Option("--dose-mg", help="单次剂量 mg / one dose in mg")
    ] = None,
    dose_ml: Annotated[
        float | None, typer.Option("--dose-ml", help="单次剂量 mL (口服补液盐) / dose in mL")
    ] = None,
    dose_iu: Annotated[
        float | None, typer.Option("--dose-iu", help="单次剂量 IU (维生素D) / dose in IU")
    ] = None,
    per_day: Annotated[int | None, typer.Option("--per-day", help="每日次数 / doses a day")] = None,
    table: TableOpt = None,
    json_out: JsonOpt = False,
    lang: LangOpt = None,
) -> None:
    """检查一个儿童用药剂量 / Check a paediatric order: allowed (exit 0) or blocked (exit 1)."""
    from careops.care.dose import check
    from careops.errors import CareOpsError

    try:
        result = check(
            drug,
            age_months=age_months,
            weight_kg=weight_kg,
            dose_mg=dose_mg,
            dose_ml=dose_ml,
            dose_iu=dose_iu,
            per_day=per_day,
            table=_table(table),
        )
    except CareOpsError as exc:
        raise _with_flag(exc) from None
    if json_out:
        print_json(result.as_dict())
    else:
        _print_check(result, lang_of(lang))
    if not result.allowed:
        raise typer.Exit(1)


def _pick(text: str, lang: str) -> str:
    """One language of a "中文 / English" text."""
    zh, sep, en = text.partition(" / ")
    return (zh if lang == "zh" else en) if sep else text


def _print_check(result, lang: str) -> None:
    lim = result.limits
    zh = lang == "zh"
    name = lim.name_zh if zh else lim.name_en
    u = lim.unit
    if result.allowed:
        out.print(f"[green]✓ {'允许' if zh else 'allowed'}[/green] {safe(name)}")
    else:
        out.print(f"[bold red]✗ {'拦截' if zh else 'blocked'}[/bold red] {safe(name)}")
    for r in result.reasons:
        out.print(f"  • {safe(_pick(r, lang))}")
    for n in result.notes:
        out.print(f"  [yellow]{'提示' if zh else 'note'}[/yellow] {safe(_pick(n, lang))}")

    def amount(v) -> str:
        return "—" if v is None else f"{v:g} {u}"

    def span(v) -> str:
        return "—" if v is None else f"{v[0]:g}–{v[1]:g} {u}"

    rows = [
        [
            "最小年龄" if zh else "minimum age",
            f"{lim.min_age_months} 月" if zh else f"{lim.min_age_months} months",
        ],
        ["推荐单次" if zh else "recommended dose", span(lim.recommended_per_dose)],
        ["推荐每日" if zh else "recommended a day", span(lim.recommended_per_day)],
        [
            "单次上限" if zh else "max per dose",
            amount(lim.max_per_dose)
            + (f" ({lim.basis['max_per_dose']})" if "max_per_dose" in lim.basis else ""),
        ],
        [
            "每日上限" if zh else "max per day",
            amount(lim.max_per_day)
            + (f" ({lim.basis['max_per_day']})" if "max_per_day" in lim.basis else ""),
        ],
        ["每日最多次数" if zh else "max doses a day", lim.max_doses_per_day or "—"],
        ["最短间隔(小时)" if zh else "min interval (h)", lim.min_interval_hours or "—"],
    ]
    if "no_dose_limit" in lim.basis:
        rows.append(
            ["无单次上限" if zh else "no per-dose cap", _pick(lim.basis["no_dose_limit"], lang)]
        )
    title = (
        f"{name}: {lim.age_months:g} 月, {lim.weight_kg:g} kg 的限量"
        if zh
        else f"{name}: limits at {lim.age_months:g} months, {lim.weight_kg:g} kg"
    )
    out.print(rich_table(title, ["限量" if zh else "limit", "值" if zh else "value"], rows))


@dose_app.command("list")
def list_command(table: TableOpt = None, json_out: JsonOpt = False, lang: LangOpt = None) -> None:
    """列出药品及其来源 / List the drugs of the dose table and their published sources."""
    from careops.care.dose import catalogue

    rows = catalogue(_table(table))
    if json_out:
        print_json(rows)
        return
    zh = lang_of(lang) == "zh"
    out.print(
        rich_table(
            "儿童剂量表" if zh else "Paediatric dose table",
            ["药品", "ATC", "单位", "最小年龄(月)", "别名", "来源"]
            if zh
            else ["drug", "ATC", "unit", "min age (months)", "aliases", "sources"],
            [
                [
                    f"{r['name_zh']} ({r['drug']})" if zh else f"{r['name_en']} ({r['drug']})",
                    r["atc"],
                    r["unit"],
                    r["min_age_months"],
                    "、".join(r["aliases"][:6]),
                    "; ".join(t["zh" if zh else "en"] for t in r["source_titles"].values()),
                ]
                for r in rows
            ],
        )
    )
