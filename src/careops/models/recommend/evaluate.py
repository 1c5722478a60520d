"""Time-split evaluation of recommendations: precision@k, recall@k and NDCG@k beside popularity.

As of D with a test window of `rec_eval_days`: the histories are the facts before D; the
relevant items of a patient are those they used in [D, D + window) and had not used before
(new items: the ones a recommendation could bring), that the rules allow them (a ranking can
never show the others). Each ranking — the model's and popularity's (distinct patients per item
over the `rec_popularity_days` before D) — drops used and refused items alike. Patients with
a history before D are scored by the model ("warm"); new patients by the fallback ("cold"),
also beside popularity: the patients who register in the test window, at sign-up (age and sex,
no history or condition). Binary relevance; NDCG@k = DCG / ideal DCG with the ideal over
min(|relevant|, k) hits.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from ibis.backends import BaseBackend
from scipy import sparse

from careops.config import Settings
from careops.errors import InvalidInput
from careops.models.recommend import data
from careops.models.recommend.model import RecModel, blend_scores, top_n
from careops.models.recommend.rank import candidates, score_matrix
from careops.models.recommend.rules import Items, Patients, Rules


@dataclass(frozen=True)
class Card:
    """Mean metrics over the evaluated patients."""

    patients: int
    precision: float | None
    recall: float | None
    ndcg: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ranking_metrics(top: np.ndarray, relevant: sparse.csr_matrix, k: int) -> Card:
    """Mean precision@k, recall@k, NDCG@k of rankings `top` (patients × ≥k item indices, −1
    pads) against binary `relevant` (patients × items); rows with no relevant item are left out."""
    n_rel = np.diff(relevant.indptr)
    rows = np.flatnonzero(n_rel > 0)
    if len(rows) == 0:
        return Card(0, None, None, None)
    t = top[rows, :k]
    rel = relevant[rows].toarray() > 0
    hit = np.where(t >= 0, np.take_along_axis(rel, np.maximum(t, 0), axis=1), False)
    disc = 1.0 / np.log2(np.arange(2, k + 2))
    dcg = (hit * disc).sum(axis=1)
    ideal = np.cumsum(disc)[np.minimum(n_rel[rows], k) - 1]
    return Card(
        len(rows),
        round(float(hit.sum(axis=1).mean() / k), 5),
        round(float((hit.sum(axis=1) / n_rel[rows]).mean()), 5),
        round(float((dcg / ideal).mean()), 5),
    )


@dataclass
class Evaluation:
    """Model vs popularity, overall and per kind, warm and cold patients."""

    model_id: str
    as_of: str
    test_end: str
    k: int
    warm: dict[str, dict[str, Card]]  # kind ("all", service, ...) -> {"model", "popularity"}
    cold: dict[str, Card]  # {"fallback", "popularity"}
    ratio_ndcg: float | None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_id": self.model_id,
            "as_of": self.as_of,
            "test_end": self.test_end,
            "k": self.k,
            "warm": {k: {n: c.to_dict() for n, c in v.items()} for k, v in self.warm.items()},
            "cold": {n: c.to_dict() for n, c in self.cold.items()},
            "ratio_ndcg": self.ratio_ndcg,
            "notes": self.notes,
        }


def _cold(
    con: BaseBackend,
    model: RecModel,
    items: Items,
    rules: Rules,
    as_of: dt.date,
    end: dt.date,
    after,
    pop: np.ndarray,
    settings: Settings,
    k: int,
) -> dict[str, Card]:
    """New patients (registered in the test window) at sign-up: age and sex only, no history,
    no recorded condition; the fallback beside popularity on what they used in the window."""
    joined = data.load_patients(con, end, settings)
    before = set(data.load_patients(con, as_of, settings).user_id.tolist())
    new = np.array([u not in before for u in joined.user_id], dtype=bool)
    if not new.any():
        return {"fallback": Card(0, None, None, None), "popularity": Card(0, None, None, None)}
    patients = Patients(
        joined.user_id[new], joined.age[new], joined.sex[new], [frozenset()] * int(new.sum())
    )
    empty = sparse.csr_matrix((len(patients), len(items)), dtype=np.float32)
    test = data.to_matrix(after, items, patients.user_id).weights
    ok = candidates(items, rules, patients, empty, None)
    rel = sparse.csr_matrix(test.multiply(sparse.csr_matrix(ok)) > 0)
    boost, _ = rules.interest(patients, items)
    mine = top_n(model.fallback(patients, boost), ok, k)
    base = top_n(np.broadcast_to(pop, ok.shape), ok, k)
    return {"fallback": ranking_metrics(mine, rel, k), "popularity": ranking_metrics(base, rel, k)}


@dataclass
class _Split:
    """What an evaluation as of a date reads: histories before it, the uses in the window."""

    items: Items
    patients: Patients
    hist: sparse.csr_matrix
    test: sparse.csr_matrix
    after: Any  # the window's interactions (Arrow)
    pop: np.ndarray  # distinct patients per item over the popularity days before the date
    end: dt.date


def _split(con: BaseBackend, as_of: dt.date, settings: Settings) -> _Split:
    days = settings.models.rec_eval_days
    end = as_of + dt.timedelta(days=days)
    items: Items = data.load_items(con)
    patients = data.load_patients(con, as_of, settings)
    if len(patients) == 0:
        raise InvalidInput(
            f"{as_of} 之前没有患者 / no patients registered before {as_of}", field="as_of"
        )
    since = as_of - dt.timedelta(days=settings.models.rec_popularity_days)
    before = data.interactions(con, as_of, settings, items, recent_since=since)
    after = data.interactions(con, end, settings, items, since=as_of)
    if after.num_rows == 0:
        raise InvalidInput(
            f"{as_of} 之后 {days} 天内没有互动, 无法评估 / no interactions in the {days} days "
            f"after {as_of}: evaluate as of an earlier date",
            field="as_of",
        )
    hist = data.to_matrix(before, items, patients.user_id).weights
    test = data.to_matrix(after, items, patients.user_id).weights
    pop = data.popularity(before.filter(before.column("recent")), items)
    return _Split(items, patients, hist, test, after, pop, end)


def _kind_truth(
    sp: _Split, rules: Rules, ok_all: np.ndarray, has: np.ndarray, kind: str
) -> tuple[np.ndarray, np.ndarray, sparse.csr_matrix]:
    """For one kind ("all": every kind): its columns, the warm patients' candidates among
    them (`ok_all`: candidates over every item, warm rows) and the relevant items."""
    cols = np.ones(len(sp.items), dtype=bool) if kind == "all" else sp.items.kind == kind
    c = np.flatnonzero(cols)
    ok = ok_all[:, c]
    rel = sparse.csr_matrix(sp.test[np.flatnonzero(has)][:, c].multiply(sparse.csr_matrix(ok)) > 0)
    return c, ok, rel


def _kind_cards(
    sp: _Split,
    rules: Rules,
    scores: np.ndarray,
    has: np.ndarray,
    kind: str,
    k: int,
    ok_all: np.ndarray,
) -> dict[str, Card]:
    """Model and popularity on the warm patients for one kind ("all": every kind); `scores`
    are the warm patients' rows; only the kind's columns are ranked."""
    c, ok, rel = _kind_truth(sp, rules, ok_all, has, kind)
    popular = np.broadcast_to(sp.pop[c], ok.shape)
    return {
        "model": ranking_metrics(top_n(scores[:, c], ok, k), rel, k),
        "popularity": ranking_metrics(top_n(popular, ok, k), rel, k),
    }


def _warm_candidates(sp: _Split, rules: Rules, has: np.ndarray) -> np.ndarray:
    warm = np.flatnonzero(has)
    return candidates(sp.items, rules, sp.patients.take(warm), sp.hist[warm], None)


#: blend weights of popularity tried per kind (0: ALS alone, 1: popularity and rules alone)
BLEND_GRID = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def tune_blend(
    con: BaseBackend,
    model: RecModel,
    rules: Rules,
    as_of: dt.date,
    settings: Settings,
    k: int = 10,
    grid: tuple[float, ...] = BLEND_GRID,
) -> dict[str, Any]:
    """Per kind the weight β of popularity in `blend_scores` with the best NDCG@k on the window
    after `as_of` (a validation split before the model's own date; ties go to the smaller β).
    Returns {"weights": {kind: β}, "ndcg": {kind: {β: NDCG}}}."""
    model = model.align(data.load_items(con))
    sp = _split(con, as_of, settings)
    has = np.diff(sp.hist.indptr) > 0
    warm = np.flatnonzero(has)
    raw = model.scores(sp.hist[warm])
    boost, _ = rules.interest(sp.patients.take(warm), sp.items)
    fb = model.fallback(sp.patients.take(warm), boost)
    ok_all = _warm_candidates(sp, rules, has)
    weights: dict[str, float] = {}
    table: dict[str, dict[str, float | None]] = {}
    for kind in data.KINDS:
        table[kind] = {}
        best, best_ndcg = 0.0, -1.0
        c, ok, rel = _kind_truth(sp, rules, ok_all, has, kind)
        kinds = sp.items.kind[c]
        for beta in grid:
            s = blend_scores(raw[:, c], fb[:, c], kinds, {kind: beta})
            nd = ranking_metrics(top_n(s, ok, k), rel, k).ndcg
            table[kind][f"{beta:g}"] = nd
            if nd is not None and nd > best_ndcg + 1e-9:
                best, best_ndcg = beta, nd
        weights[kind] = best
    return {
        "as_of": as_of.isoformat(),
        "test_end": sp.end.isoformat(),
        "weights": weights,
        "ndcg": table,
    }


def evaluate_split(
    con: BaseBackend,
    model: RecModel,
    model_id: str,
    rules: Rules,
    as_of: dt.date,
    settings: Settings,
    k: int = 10,
) -> Evaluation:
    """Evaluate `model` on the window after `as_of` (see the module docstring)."""
    model = model.align(data.load_items(con))
    sp = _split(con, as_of, settings)
    items, patients, hist, pop = sp.items, sp.patients, sp.hist, sp.pop
    scores, has = score_matrix(model, items, rules, patients, hist)
    ok_all = _warm_candidates(sp, rules, has)
    warm = {
        kind: _kind_cards(sp, rules, scores[has], has, kind, k, ok_all)
        for kind in ("all", *data.KINDS)
    }
    cold = _cold(con, model, items, rules, as_of, sp.end, sp.after, pop, settings, k)
    a, b = warm["all"]["model"].ndcg, warm["all"]["popularity"].ndcg
    notes = [
        "相关项目: 测试窗内新用到且规则允许的项目 / relevant: items first used in the test "
        "window that the rules allow the patient",
    ]
    blend = model.params.get("blend") or {}
    if blend:
        notes.append(
            "各类型混合热门的权重 (在训练日前的验证窗上选定) / popularity blend per kind, chosen "
            "on a validation window before the training date: "
            + ", ".join(f"{kk} {v:g}" for kk, v in sorted(blend.items()))
        )
    return Evaluation(
        model_id,
        as_of.isoformat(),
        sp.end.isoformat(),
        k,
        warm,
        cold,
        round(a / b, 3) if a is not None and b else None,
        notes,
    )
