"""Ranking with reasons: the one path every recommendation takes (CLI, API, evaluation).

For each patient: collaborative scores when they have a history, else the fallback; items they
already used, items of other kinds than asked, and every item the medical rules refuse are
removed before the top N are taken. Each item carries a reason in Chinese: the history item
most like it in the model's factor space ("浏览过糖尿病内容", "关注过内分泌科医生",
"购买过电子血压计") when one is similar enough (cosine of factors ≥ `SIMILAR`); else a
recorded condition whose interests select it ("患有糖尿病"); else "与您相似的患者常用" (the
collaborative signal with no single history item behind it), or for a patient with no
history its popularity among patients of their age band and sex ("青年女性患者常用").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse

from careops.models.recommend.model import RecModel, segment_of, segment_zh, top_n
from careops.models.recommend.rules import Items, Patients, Rules

#: cosine of item factors above which a history item explains a recommendation
SIMILAR = 0.3


@dataclass(frozen=True)
class Ranked:
    """Per patient the chosen item indices (−1 pads), their scores, source and reasons."""

    index: np.ndarray  # patients × n
    source: np.ndarray  # "model" or "fallback" per patient
    reasons: list[list[str]]


def candidates(
    items: Items, rules: Rules, patients: Patients, history: sparse.csr_matrix, kind: str | None
) -> np.ndarray:
    """patients × items: allowed by the rules, of the kind asked, not used before."""
    ok = rules.allowed(patients, items)
    if kind is not None:
        ok &= (items.kind == kind)[None, :]
    used = history.tocoo()
    ok[used.row, used.col] = False
    return ok


def score_matrix(
    model: RecModel, items: Items, rules: Rules, patients: Patients, history: sparse.csr_matrix
) -> tuple[np.ndarray, np.ndarray]:
    """patients × items scores, and whether each patient was scored by the model (has
    history) or by the fallback."""
    has = np.diff(history.indptr) > 0
    boost, _ = rules.interest(patients, items)
    s = model.fallback(patients, boost)
    if has.any():
        s[has] = model.scores(history[has])
    return s, has


def _history_reason(items: Items, j: int) -> str:
    kind = items.kind[j]
    if kind == "content":
        return f"浏览过{items.topic[j] or items.name[j]}内容"
    if kind == "doctor":
        return f"关注过{items.department[j]}医生" if items.department[j] else "关注过同类医生"
    if kind == "package":
        return f"参加过{items.name[j]}"
    return f"购买过{items.name[j]}"


def rank(
    model: RecModel,
    items: Items,
    rules: Rules,
    patients: Patients,
    history: sparse.csr_matrix,
    *,
    kind: str | None = None,
    top: int = 10,
    with_reasons: bool = True,
) -> Ranked:
    """The top `top` items per patient (`history` rows align with `patients`)."""
    scores, has = score_matrix(model, items, rules, patients, history)
    ok = candidates(items, rules, patients, history, kind)
    idx = top_n(scores, ok, top)
    reasons = _reasons(model, items, rules, patients, history, idx, has) if with_reasons else []
    return Ranked(idx, np.where(has, "model", "fallback"), reasons)


def _best_history(
    sim: np.ndarray, history: sparse.csr_matrix, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per (patient, rank) the history item with the largest similarity × log(1 + weight) to
    the recommended item (−1 without history), and its similarity."""
    n, k = idx.shape
    best = np.full((n, k), -1)
    best_sim = np.full((n, k), -np.inf)
    rows = np.repeat(np.arange(n), np.diff(history.indptr))
    if len(rows) == 0:
        return best, best_sim
    logw = np.log1p(history.data)
    counts = np.diff(history.indptr)
    pos = np.arange(len(rows)) - history.indptr[rows]
    width = int(counts.max())
    padded_item = np.full((n, width), -1)
    padded_item[rows, pos] = history.indices
    has = counts > 0
    for r in range(k):
        j = idx[rows, r]
        s = sim[history.indices, np.maximum(j, 0)]
        strength = np.full((n, width), -np.inf)
        strength[rows, pos] = np.where(j >= 0, s * logw, -np.inf)
        sims = np.full((n, width), -np.inf)
        sims[rows, pos] = s
        a = np.argmax(strength, axis=1)
        best[has, r] = padded_item[has, a[has]]
        best_sim[has, r] = sims[has, a[has]]
    return best, best_sim


def _reasons(
    model: RecModel,
    items: Items,
    rules: Rules,
    patients: Patients,
    history: sparse.csr_matrix,
    idx: np.ndarray,
    has: np.ndarray,
) -> list[list[str]]:
    best, best_sim = _best_history(model.similarity(), history, idx)
    labels = rules.interest_labels(patients, items)
    seg = segment_of(patients.age, patients.sex)
    history_text = {}
    out: list[list[str]] = []
    for u in range(len(patients)):
        row = []
        for r, j in enumerate(idx[u]):
            if j < 0:
                continue
            b = best[u, r]
            if has[u] and b >= 0 and best_sim[u, r] >= SIMILAR:
                if b not in history_text:
                    history_text[b] = _history_reason(items, int(b))
                row.append(history_text[b])
            elif labels[u, j] >= 0:
                row.append(f"患有{rules.spec.interests[labels[u, j]].label}")
            elif has[u]:
                row.append("与您相似的患者常用")
            else:
                row.append(f"{segment_zh(int(seg[u])) or '其他'}患者常用")
        out.append(row)
    return out
