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

from careops.models.recommend.model import (
    N_SEGMENTS,
    RecModel,
    blend_scores,
    segment_of,
    segment_zh,
    top_n,
)
from careops.models.recommend.rules import Items, Patients, Rules

#: cosine of item factors above which a history item explains a recommendation
SIMILAR = 0.3


@dataclass(frozen=True)
class Ranked:
    """Per patient the chosen item indices (−1 pads), their source, and each item's reason as
    an integer code into `vocabulary` (−1: none asked)."""

    index: np.ndarray  # patients × n
    source: np.ndarray  # "model" or "fallback" per patient
    reason_code: np.ndarray | None = None  # patients × n, into vocabulary
    vocabulary: tuple[str, ...] = ()

    @property
    def reasons(self) -> list[list[str]]:
        """Per patient the reason texts of the chosen items, in rank order."""
        if self.reason_code is None:
            return []
        return [
            [self.vocabulary[c] for c, j in zip(codes, idx, strict=True) if j >= 0]
            for codes, idx in zip(self.reason_code, self.index, strict=True)
        ]


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
    s = np.zeros((len(patients), len(items)), dtype=np.float32)
    if has.any():
        s[has] = model.scores(history[has])
        blend = model.params.get("blend") or {}
        if any(b > 0 for b in blend.values()):
            warm = patients.take(np.flatnonzero(has))
            boost, _ = rules.interest(warm, items)
            s[has] = blend_scores(s[has], model.fallback(warm, boost), items.kind, blend)
    if not has.all():
        cold = patients.take(np.flatnonzero(~has))
        boost, _ = rules.interest(cold, items)
        s[~has] = model.fallback(cold, boost)
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
    source = np.where(has, "model", "fallback")
    if not with_reasons:
        return Ranked(idx, source)
    codes = reason_codes(model, items, rules, patients, history, idx, has)
    return Ranked(idx, source, codes, vocabulary(items, rules))


def vocabulary(items: Items, rules: Rules) -> tuple[str, ...]:
    """Every reason text, indexed by `reason_codes`: one per history item, one per interest,
    the collaborative phrase, one per popularity segment."""
    out = [_history_reason(items, j) for j in range(len(items))]
    out += [f"患有{i.label}" for i in rules.spec.interests]
    out.append("与您相似的患者常用")
    out += [f"{segment_zh(g) or '其他'}患者常用" for g in range(N_SEGMENTS)]
    return tuple(out)


def _best_history(
    sim: np.ndarray, history: sparse.csr_matrix, idx: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per (patient, rank) the history item with the largest similarity × log(1 + weight) to
    the recommended item (−1 without history; the first in item order on ties), and its
    similarity. Segment maxima over the CSR rows (`reduceat`), no per-patient loop."""
    n, k = idx.shape
    best = np.full((n, k), -1)
    best_sim = np.full((n, k), -np.inf)
    counts = np.diff(history.indptr)
    has = counts > 0
    if not has.any():
        return best, best_sim
    rows = np.repeat(np.arange(n), counts)
    starts = history.indptr[:-1][has]
    logw = np.log1p(history.data)
    pos = np.arange(len(rows))
    for r in range(k):
        j = idx[rows, r]
        s = sim[history.indices, np.maximum(j, 0)]
        strength = np.where(j >= 0, s * logw, -np.inf)
        top = np.maximum.reduceat(strength, starts)
        first = np.where(strength == np.repeat(top, counts[has]), pos, len(pos))
        at = np.minimum.reduceat(first, starts)
        best[has, r] = history.indices[at]
        best_sim[has, r] = s[at]
    return best, best_sim


def reason_codes(
    model: RecModel,
    items: Items,
    rules: Rules,
    patients: Patients,
    history: sparse.csr_matrix,
    idx: np.ndarray,
    has: np.ndarray,
) -> np.ndarray:
    """patients × n codes into `vocabulary` (see the module docstring for the order of
    preference), computed with array operations only."""
    n_items, n_int = len(items), len(rules.spec.interests)
    best, best_sim = _best_history(model.similarity(), history, idx)
    labels = rules.interest_labels(patients, items)
    label = np.where(idx >= 0, np.take_along_axis(labels, np.maximum(idx, 0), axis=1), -1)
    seg = segment_of(patients.age, patients.sex)
    code = np.where(has[:, None], n_items + n_int, n_items + n_int + 1 + seg[:, None])
    code = np.where(label >= 0, n_items + label, code)
    from_history = has[:, None] & (best >= 0) & (best_sim >= SIMILAR)
    code = np.where(from_history, best, code)
    return np.where(idx >= 0, code, -1).astype(np.int32)
