"""How a simulation summary reads (shared by `careops simulate` and `careops demo`): Rich
tables built from `careops.sim.summary.summary`, every data value through `rich_table`."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from careops.cliutil import rich_table, safe
from careops.labels import label
from careops.sim.summary import summary


def print_summary(folder: Path, console: Console, lang: str = "zh") -> None:
    """Personas, volumes and the calibration table of a simulation folder."""
    s = summary(folder)
    console.print(
        rich_table(
            label("sim.personas", lang),
            ["persona", label("sim.persona", lang), label("sim.patients", lang)],
            [[r["persona"], r["label_zh"], f"{r['patients']:,}"] for r in s["personas"]],
        )
    )
    console.print(
        safe(
            label(
                "sim.volumes",
                lang,
                events=f"{s['events']:,}",
                orders=f"{s['orders']:,}",
                revenue=f"{s['revenue_cny']:,.0f}",
            )
        )
    )
    rows = []
    for r in s["calibration"]:
        lo, hi = r["target_low"], r["target_high"]
        target = f"{'' if lo is None else lo}–{'' if hi is None else hi}"
        value = "n/a" if r["value"] is None else f"{r['value']:g}"
        rows.append([r["label_zh"], value, target, "✓" if r["ok"] else "✗"])
    console.print(
        rich_table(
            label("sim.calibration", lang),
            [label(k, lang) for k in ("sim.metric", "sim.value", "sim.target", "sim.ok")],
            rows,
        )
    )
