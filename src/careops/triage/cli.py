"""`careops triage "TEXT"`: smart triage (智能导诊) from the command line.

    careops triage "头痛、发热，三天了" [--departments FILE] [--top K] [--json]
    careops triage [--departments FILE] < questions.jsonl      (JSON Lines in, JSON Lines out)
    careops triage ask "TEXT"                                   (the same as the first form)
    careops triage train | evaluate …                           (from cli_learn, when present)

A group whose first argument is free text and whose other arguments are subcommands: any first
argument that is not a subcommand's name (or is an option, or absent) goes to `ask`. Thin shell
over `careops.triage.service`. Exit codes: 0 answered, 1 an emergency was flagged (one text) or
some batch lines were bad, 2 bad input.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from typer.core import TyperGroup

from careops.cliutil import (
    JsonOpt,
    LangOpt,
    WarehouseOpt,
    lang_of,
    ops,
    print_json,
    rich_table,
    safe,
)


class _TextFirstGroup(TyperGroup):
    """Sends a first argument that is not a subcommand (free text, an option, `-`) to `ask`."""

    def resolve_command(self, ctx, args):
        if args and (args[0] in self.commands and args[0] != "ask"):
            return super().resolve_command(ctx, args)
        if args and args[0] == "ask":
            return super().resolve_command(ctx, args)
        return "ask", self.commands["ask"], args


triage_app = typer.Typer(
    cls=_TextFirstGroup,
    help="智能导诊 Smart triage: symptom text → red flag, departments, doctors.\n\n"
    'careops triage "头痛、发热，三天了" [--departments FILE] [--top K] [--json]; '
    'no text (or -): JSON Lines {"id", "text"} from stdin, one answer per line.',
    invoke_without_command=True,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
out = Console()
err = Console(stderr=True)

DepartmentsOpt = Annotated[
    Path | None,
    typer.Option(
        "--departments",
        help="科室目录文件: 每行一个科室, 可选 名称<TAB>描述 "
        "(默认: 仓库医生表的科室, 否则内置目录) / department catalogue file",
    ),
]
TopOpt = Annotated[int, typer.Option("--top", help="返回科室数 / departments returned (1–50)")]
DoctorsOpt = Annotated[int, typer.Option("--doctors", help="返回医生数 / doctors returned")]


@triage_app.callback()
def _group(ctx: typer.Context) -> None:
    """智能导诊 / Triage a text (or JSON Lines from stdin) to departments and doctors."""
    if ctx.invoked_subcommand is None:  # `careops triage` alone: batch from stdin
        ctx.invoke(ask, text=None)


@triage_app.command("ask")
def ask(
    text: Annotated[
        str | None, typer.Argument(help="症状描述; 省略或 - 时从标准输入读 JSON Lines / the text")
    ] = None,
    departments: DepartmentsOpt = None,
    top: TopOpt = 3,
    doctors: DoctorsOpt = 5,
    json_out: JsonOpt = False,
    warehouse: WarehouseOpt = None,
    lang: LangOpt = None,
) -> None:
    """导诊一个问题, 或从标准输入批量导诊 / Triage one text, or JSON Lines from stdin."""
    from careops.triage.service import answer_lines, open_triage

    if text is None and sys.stdin.isatty():
        err.print(
            "[red]请给出症状描述, 或从标准输入送入 JSON Lines / give a text: "
            'careops triage "头痛发热", or JSON Lines on stdin[/red]'
        )
        raise typer.Exit(2)
    triage = open_triage(departments, ops(warehouse))
    if text is None or text == "-":
        bad = 0
        for obj in answer_lines(sys.stdin, triage, top=top, doctors=doctors):
            bad += "error" in obj
            sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
        sys.stdout.flush()
        if bad:
            err.print(f"[yellow]{bad} 行有误 / bad lines[/] (见 error 字段 / see `error`)")
            raise typer.Exit(1)
        return
    answer = triage.ask(text, top=top, doctors=doctors)
    if json_out:
        print_json({**answer.as_dict(), "catalogue": triage.source})
    else:
        _print(answer, triage.source, lang_of(lang))
    if answer.emergency is not None:
        raise typer.Exit(1)


def _print(answer, source: str, lang: str) -> None:
    zh = lang == "zh"
    if answer.emergency is not None:
        e = answer.emergency
        out.print(f"[bold red]⚠ {safe(e.advice)}[/bold red]")
        out.print(
            f"  {'规则' if zh else 'rule'}: {safe(e.rule)} — {safe(e.name)} "
            f"({safe('、'.join(e.words))})"
        )
    if not answer.recognised:
        out.print(
            "[yellow]未识别到症状词, 请用中文描述症状 / no symptom words recognised: "
            "please describe the symptoms in Chinese[/yellow]"
        )
    rows = [
        [i, r.name, f"{r.score:.3f}", "、".join(w.term for w in r.words)]
        for i, r in enumerate(answer.departments, 1)
    ]
    title = f"{'推荐科室' if zh else 'departments'} ({'目录' if zh else 'catalogue'}: {source})"
    out.print(
        rich_table(
            title,
            [
                "#",
                "科室" if zh else "department",
                "得分" if zh else "score",
                "依据" if zh else "words",
            ],
            rows,
        )
    )
    if answer.negated:
        out.print(f"  {'已排除 (否定)' if zh else 'negated'}: {safe('、'.join(answer.negated))}")
    if answer.paediatric:
        out.print(f"  {'儿童问诊' if zh else 'paediatric text'}")
    if answer.doctors:
        out.print(
            rich_table(
                "推荐医生" if zh else "doctors",
                [
                    "医生" if zh else "doctor",
                    "科室" if zh else "department",
                    "职称" if zh else "title",
                    "擅长" if zh else "specialties",
                    "评分" if zh else "rating",
                ],
                [
                    [
                        m.doctor.name,
                        m.doctor.department,
                        m.doctor.title,
                        m.doctor.specialties,
                        "—" if m.doctor.rating is None else f"{m.doctor.rating:.1f}",
                    ]
                    for m in answer.doctors
                ],
            )
        )


try:  # `careops triage train|evaluate` live in the evaluation engineer's module
    from careops.triage.cli_learn import register

    register(triage_app)
except ImportError:
    pass
