"""The recommendation report: coverage, quality per kind beside popularity, the medical rules
that blocked items, and examples with masked patient ids — as data (`RecReport`, built by
`build`) and as one self-contained HTML page (`render_html`: Jinja2 with autoescaping, charts
as inline SVG drawn here, no script; zh-CN by default, English with lang="en").

Coverage, blocked items and examples are measured on a seeded sample of the patients
registered before the date (all of them when fewer than `sample`); quality is the evaluation
on the window after the date when its facts exist, else the model's holdout (the validation
window before its training date), and the page says which.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import Any

import numpy as np
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from markupsafe import Markup

from careops.errors import InvalidInput
from careops.labels import words
from careops.models.recommend import data
from careops.models.recommend.evaluate import evaluate_split
from careops.models.recommend.model import RecModel, top_n
from careops.models.recommend.rank import rank, score_matrix
from careops.models.recommend.rules import Rules

#: colours of the model and of popularity in the charts
MODEL_COLOUR, POP_COLOUR = "#2f7ed8", "#b0bec5"


def mask_id(user_id: str) -> str:
    """A patient id with its middle hidden (U0****12): enough to tell examples apart."""
    s = str(user_id)
    if len(s) <= 4:
        return "*" * len(s)
    return s[:2] + "*" * (len(s) - 4) + s[-2:]


@dataclass
class RecReport:
    """What the page shows; numbers and codes, no words of the page's language."""

    as_of: dt.date
    model_id: str
    k: int
    sample: int
    coverage: dict[str, Any]
    quality: dict[str, Any] | None  # an Evaluation.to_dict(), with "source": test | holdout
    blocked: list[dict[str, Any]]
    examples: list[dict[str, Any]]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "model_id": self.model_id,
            "k": self.k,
            "sample": self.sample,
            "coverage": self.coverage,
            "quality": self.quality,
            "blocked": self.blocked,
            "examples": self.examples,
            "notes": self.notes,
        }


def build(
    con,
    model: RecModel,
    model_id: str,
    holdout: dict[str, Any] | None,
    rules: Rules,
    as_of: dt.date,
    settings,
    *,
    sample: int = 20_000,
    examples: int = 5,
    seed: int = 0,
    k: int = 10,
) -> RecReport:
    """The report's figures as of `as_of` (see the module docstring)."""
    items = data.load_items(con)
    model = model.align(items)
    everyone = data.load_patients(con, as_of, settings)
    if len(everyone) == 0:
        raise InvalidInput(
            f"{as_of} 之前没有患者 / no patients registered before {as_of}", field="as_of"
        )
    rng = np.random.default_rng(seed)
    pick = np.sort(rng.choice(len(everyone), size=min(sample, len(everyone)), replace=False))
    patients = everyone.take(pick)
    hist = data.to_matrix(
        data.interactions(con, as_of, settings, items), items, patients.user_id
    ).weights
    ranked = rank(model, items, rules, patients, hist, top=k)
    coverage = _coverage(ranked.index, ranked.source, items, rules, k)
    blocked = _blocked(model, items, rules, patients, hist, k)
    ex = _examples(ranked, items, patients, hist, examples, rng)
    try:
        quality = evaluate_split(con, model, model_id, rules, as_of, settings, k).to_dict()
        quality["source"] = "test"
    except InvalidInput:
        quality = dict(holdout, source="holdout") if holdout and "warm" in holdout else None
    return RecReport(as_of, model_id, k, len(patients), coverage, quality, blocked, ex)


def _coverage(idx: np.ndarray, source: np.ndarray, items, rules: Rules, k: int) -> dict:
    shown = np.zeros(len(items), dtype=bool)
    shown[idx[idx >= 0]] = True
    recommendable = ~rules.never(items)
    by_kind = {}
    for kind in data.KINDS:
        cols = (items.kind == kind) & recommendable
        by_kind[kind] = {"shown": int((shown & cols).sum()), "items": int(cols.sum())}
    return {
        "patients": len(idx),
        "model": int((source == "model").sum()),
        "fallback": int((source == "fallback").sum()),
        "full": int(((idx >= 0).sum(axis=1) == k).sum()),
        "items_shown": int((shown & recommendable).sum()),
        "items": int(recommendable.sum()),
        "by_kind": by_kind,
    }


def _blocked(model, items, rules: Rules, patients, hist, k: int) -> list[dict[str, Any]]:
    """Per constraint: how many items of the unconstrained top k it refuses, for how many
    patients (the ranking without the rules: only used items dropped)."""
    scores, _ = score_matrix(model, items, rules, patients, hist)
    free = np.ones((len(patients), len(items)), dtype=bool)
    used = hist.tocoo()
    free[used.row, used.col] = False
    idx = top_n(scores, free, k)
    j = np.maximum(idx, 0)
    out = []
    for name, why, refused, cols in rules.refusals(patients, items):
        hit = (idx >= 0) & cols[j] & refused[:, None]
        out.append(
            {
                "rule": name,
                "why": why,
                "patients": int(hit.any(axis=1).sum()),
                "items": int(hit.sum()),
            }
        )
    return sorted(out, key=lambda r: -r["items"])


def _examples(ranked, items, patients, hist, n: int, rng) -> list[dict[str, Any]]:
    """Up to `n` patients with a history and up to 2 without (seeded), their top 5."""
    has = np.diff(hist.indptr) > 0
    chosen = []
    for pool, m in ((np.flatnonzero(has), n), (np.flatnonzero(~has), min(2, n))):
        if len(pool):
            chosen += sorted(rng.choice(pool, size=min(m, len(pool)), replace=False).tolist())
    reasons = ranked.reasons
    out = []
    for u in chosen:
        rows = [
            {
                "rank": r + 1,
                "kind": str(items.kind[j]),
                "name": str(items.name[j]),
                "reason": reasons[u][r],
            }
            for r, j in enumerate(x for x in ranked.index[u][:5] if x >= 0)
        ]
        out.append(
            {
                "patient": mask_id(patients.user_id[u]),
                "source": str(ranked.source[u]),
                "items": rows,
            }
        )
    return out


# -- the page ------------------------------------------------------------------------------

_ENV = Environment(
    loader=PackageLoader("careops.models.recommend", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def svg_bars(
    categories: list[str],
    series: list[tuple[str, list[float | None], str]],
    *,
    top: float | None = None,
    width: int = 640,
    bar_h: int = 14,
    digits: int = 3,
) -> Markup:
    """Horizontal grouped bars as inline SVG (labels escaped; a missing value draws no bar
    and reads "—")."""
    label_w, gap, pad = 150, 10, 60
    values = [v for _, vs, _ in series for v in vs if v is not None]
    top = top or max(values, default=1.0) or 1.0
    group_h = bar_h * len(series) + gap
    height = group_h * len(categories) + 24 + 6
    span = width - label_w - pad
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" font-size="12" font-family="sans-serif">'
    ]
    for ci, cat in enumerate(categories):
        y0 = ci * group_h
        parts.append(
            f'<text x="{label_w - 6}" y="{y0 + bar_h * len(series) / 2 + 4:.1f}" '
            f'text-anchor="end">{escape(cat)}</text>'
        )
        for si, (_, vs, colour) in enumerate(series):
            v = vs[ci]
            y = y0 + si * bar_h
            w = 0.0 if v is None else max(v, 0.0) / top * span
            parts.append(
                f'<rect x="{label_w}" y="{y}" width="{w:.1f}" height="{bar_h - 2}" '
                f'fill="{escape(colour)}"/>'
            )
            text = "—" if v is None else f"{v:.{digits}f}" if digits else f"{v:,.0f}"
            parts.append(f'<text x="{label_w + w + 4:.1f}" y="{y + bar_h - 4}">{text}</text>')
    ly = len(categories) * group_h + 16
    x = label_w
    for name, _, colour in series:
        parts.append(f'<rect x="{x}" y="{ly - 10}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{x + 16}" y="{ly}">{escape(name)}</text>')
        x += 24 + 12 * len(name)
    parts.append("</svg>")
    return Markup("".join(parts))


def _f(v: float | None) -> str:
    return "—" if v is None else f"{v:.3f}"


def render_html(rep: RecReport, lang: str = "zh") -> str:
    """The report as one HTML page in `lang` (zh or en)."""
    t = words("recommend", lang)
    kinds = {k: t[f"kind.{k}"] for k in data.KINDS}
    cov = rep.coverage
    cov_chart = svg_bars(
        [f"{kinds[k]} (/{cov['by_kind'][k]['items']})" for k in data.KINDS],
        [
            (
                t["items_used"],
                [float(cov["by_kind"][k]["shown"]) for k in data.KINDS],
                MODEL_COLOUR,
            ),
        ],
        top=float(max(v["items"] for v in cov["by_kind"].values()) or 1),
        digits=0,
    )
    q = rep.quality
    q_rows, q_chart, q_source = [], None, t["no_quality"]
    if q:
        key = "source_test" if q.get("source") == "test" else "source_holdout"
        q_source = t[key].format(a=q["as_of"], b=q["test_end"])
        cats = ["all", *data.KINDS]
        names = [t["all"], *(kinds[k] for k in data.KINDS)]
        for c, nm in zip(cats, names, strict=True):
            m, p = q["warm"][c]["model"], q["warm"][c]["popularity"]
            ratio = m["ndcg"] / p["ndcg"] if m["ndcg"] is not None and p["ndcg"] else None
            q_rows.append([nm, m["patients"], _f(m["ndcg"]), _f(p["ndcg"]), _f(ratio)])
        cold = q["cold"]
        q_rows.append(
            [
                t["new_patients"],
                cold["fallback"]["patients"],
                _f(cold["fallback"]["ndcg"]),
                _f(cold["popularity"]["ndcg"]),
                "—",
            ]
        )
        q_chart = svg_bars(
            names,
            [
                (t["model_col"], [q["warm"][c]["model"]["ndcg"] for c in cats], MODEL_COLOUR),
                (t["popularity"], [q["warm"][c]["popularity"]["ndcg"] for c in cats], POP_COLOUR),
            ],
            top=1.0,
        )
    b_chart = svg_bars(
        [b["rule"] for b in rep.blocked],
        [(t["blocked_items"], [float(b["items"]) for b in rep.blocked], "#c42525")],
        digits=0,
    )
    src = {"model": t["model_src"], "fallback": t["fallback_src"]}
    examples = [
        {
            "patient": e["patient"],
            "source": src.get(e["source"], e["source"]),
            "rows": [
                [i["rank"], kinds.get(i["kind"], i["kind"]), i["name"], i["reason"]]
                for i in e["items"]
            ],
        }
        for e in rep.examples
    ]
    notes = list(rep.notes) + (list(q.get("notes", [])) if q else [])
    return _ENV.get_template("report.html").render(
        t=t,
        html_lang="en" if lang == "en" else "zh-CN",
        rep=rep,
        cov=cov,
        cov_chart=cov_chart,
        q_source=q_source,
        q_rows=q_rows,
        q_chart=q_chart,
        b_chart=b_chart,
        blocked=rep.blocked,
        examples=examples,
        notes=notes,
        generated=dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    )


def write_html(rep: RecReport, path: str | Path, lang: str = "zh") -> Path:
    """Write the page to `path` (its folder must exist)."""
    p = Path(path)
    p.write_text(render_html(rep, lang), "utf-8")
    return p
