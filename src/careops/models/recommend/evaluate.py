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
from careops.models.recommend.model import RecModel, top_n
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
    days = settings.models.rec_eval_days
    end = as_of + dt.timedelta(days=days)
    items: Items = data.load_items(con)
    model = model.align(items)
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
    recent = before.filter(before.column("recent"))
    pop = data.popularity(recent, items)
    scores, has = score_matrix(model, items, rules, patients, hist)
    warm: dict[str, dict[str, Card]] = {}
    for kind in ("all", *data.KINDS):
        ok = candidates(items, rules, patients, hist, None if kind == "all" else kind)[has]
        rel = sparse.csr_matrix(test[np.flatnonzero(has)].multiply(sparse.csr_matrix(ok)) > 0)
        popular = np.broadcast_to(pop, ok.shape)
        warm[kind] = {
            "model": ranking_metrics(top_n(scores[has], ok, k), rel, k),
            "popularity": ranking_metrics(top_n(popular, ok, k), rel, k),
        }
    cold = _cold(con, model, items, rules, as_of, end, after, pop, settings, k)
    a, b = warm["all"]["model"].ndcg, warm["all"]["popularity"].ndcg
    notes = [
        "相关项目: 测试窗内新用到且规则允许的项目 / relevant: items first used in the test "
        "window that the rules allow the patient",
    ]
    return Evaluation(
        model_id,
        as_of.isoformat(),
        end.isoformat(),
        k,
        warm,
        cold,
        round(a / b, 3) if a is not None and b else None,
        notes,
    )
