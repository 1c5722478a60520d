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
    reasons: list[list[str]] = []
    if with_reasons:
        sim = model.similarity()
        seg = segment_of(patients.age, patients.sex)
        for u in range(len(patients)):
            row = []
            lo, hi = history.indptr[u], history.indptr[u + 1]
            hist, w = history.indices[lo:hi], history.data[lo:hi]
            for j in idx[u]:
                if j < 0:
                    continue
                label = rules.interest_label(patients.conditions[u], items, int(j))
                if has[u] and len(hist):
                    strength = sim[hist, j] * np.log1p(w)
                    best = int(hist[int(np.argmax(strength))])
                    if sim[best, j] >= SIMILAR:
                        row.append(_history_reason(items, best))
                        continue
                if label is not None:
                    row.append(f"患有{label}")
                elif has[u]:
                    row.append("与您相似的患者常用")
                else:
                    row.append(f"{segment_zh(int(seg[u])) or '其他'}患者常用")
            reasons.append(row)
    return Ranked(idx, np.where(has, "model", "fallback"), reasons)
