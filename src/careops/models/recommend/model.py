"""The recommendation model: implicit-feedback ALS item factors plus popularity, and the ranking.

Method (Hu, Koren & Volinsky 2008): each (patient, item) weight w becomes a confidence
c = 1 + α·log(1 + w) with preference 1; `implicit`'s ALS learns item factors Y. A patient is
scored by *folding in* their history as of the scoring date: x = (YᵀY + Yᵀ(C − I)Y + λI)⁻¹ YᵀCp,
the exact least-squares step ALS itself takes (checked against `implicit`'s
`recalculate_user`), so a model trained as of D scores any later date with fresh histories and
patients it never saw. Scores are x·Y.

A patient with no history gets the fallback: popularity among patients of the same age band and
sex (last `rec_popularity_days` before the training date), with the items their recorded
conditions make relevant (`rules.yaml` interests) first. Every ranking then drops the items the
patient already used and every item the medical constraints refuse (`Rules.allowed`).

For patients with a history, each kind's ALS scores may be blended with that fallback
(`blend_scores`, weights per kind in `params["blend"]`, chosen at training on a validation
window before the training date: `evaluate.tune_blend`).

Files (nothing pickled): `items.json` (item keys), `factors.npy`, `popularity.npy`
(segments × items), `params.json`; `.npy` files are read with `allow_pickle=False`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse

from careops.models.recommend.rules import Items, Patients
from careops.models.registry import ModelError

FORMAT_VERSION = 1
KIND = "recommend"
#: age bands of the popularity segments (upper bounds, inclusive); unknown age is its own band
AGE_BANDS = (14, 34, 59, 200)
AGE_BAND_ZH = ("儿童", "青年", "中年", "老年", "")
SEX_ZH = {"M": "男性", "F": "女性", "U": ""}


def confidence(weights: sparse.csr_matrix, alpha: float) -> sparse.csr_matrix:
    c = weights.copy().astype(np.float32)
    c.data = (1.0 + alpha * np.log1p(c.data)).astype(np.float32)
    return c


def segment_of(age: np.ndarray, sex: np.ndarray) -> np.ndarray:
    """Segment index: age band (0–3, 4 unknown) × sex (M 0, F 1, other 2)."""
    band = np.where(age < 0, len(AGE_BANDS), np.searchsorted(np.array(AGE_BANDS), age))
    s = np.where(sex == "M", 0, np.where(sex == "F", 1, 2))
    return band * 3 + s


N_SEGMENTS = (len(AGE_BANDS) + 1) * 3


def segment_zh(seg: int) -> str:
    band, s = divmod(int(seg), 3)
    return AGE_BAND_ZH[band] + SEX_ZH[("M", "F", "U")[s]]


@dataclass
class RecModel:
    """Item factors, popularity per segment, and the settings they were fitted with."""

    item_keys: np.ndarray
    factors: np.ndarray  # items × f, float32
    popularity: np.ndarray  # segments × items, distinct patients
    params: dict[str, Any] = field(default_factory=dict)

    # -- fit ----------------------------------------------------------------------------------
    @classmethod
    def fit(
        cls,
        weights: sparse.csr_matrix,
        item_keys: np.ndarray,
        popularity: np.ndarray,
        params: dict[str, Any],
    ) -> RecModel:
        """ALS on `weights` (patients × items); `params`: factors, iterations, regularization,
        alpha, seed."""
        from implicit.cpu.als import AlternatingLeastSquares
        from threadpoolctl import threadpool_limits

        if weights.nnz == 0:
            raise ModelError(
                "没有可学习的互动 / no interactions to learn from (views, consultations, orders "
                "of catalogue items before the date)"
            )
        with threadpool_limits(1, "blas"):  # implicit asks for single-threaded BLAS
            als = AlternatingLeastSquares(
                factors=int(params["factors"]),
                regularization=float(params["regularization"]),
                alpha=1.0,
                iterations=int(params["iterations"]),
                random_state=int(params["seed"]),
                use_cg=True,
                num_threads=1,  # measured faster than 2 on the shared 2-core machine
            )
            als.fit(confidence(weights, float(params["alpha"])), show_progress=False)
        return cls(
            np.asarray(item_keys, dtype=object),
            np.asarray(als.item_factors, dtype=np.float32),
            np.asarray(popularity, dtype=np.float64),
            dict(params),
        )

    # -- fold-in and scores -------------------------------------------------------------------
    def user_factors(self, weights: sparse.csr_matrix, chunk: int = 2000) -> np.ndarray:
        """Each row's factors given the item factors (the ALS least-squares step)."""
        y = self.factors.astype(np.float64)
        f = y.shape[1]
        lam = float(self.params["regularization"])
        base = y.T @ y + lam * np.eye(f)
        yy = np.einsum("if,ig->ifg", y, y).reshape(len(y), f * f)
        c = confidence(weights, float(self.params["alpha"])).astype(np.float64)
        out = np.zeros((weights.shape[0], f))
        for s in range(0, weights.shape[0], chunk):
            cc = c[s : s + chunk]
            cm1 = cc.copy()
            cm1.data = cm1.data - 1.0
            a = (cm1 @ yy).reshape(-1, f, f) + base
            b = cc @ y
            out[s : s + chunk] = np.linalg.solve(a, b[..., None])[..., 0]
        return out

    def scores(self, weights: sparse.csr_matrix) -> np.ndarray:
        """patients × items collaborative scores (rows with no history: zeros)."""
        return (self.user_factors(weights) @ self.factors.T.astype(np.float64)).astype(np.float32)

    def fallback(self, patients: Patients, boost: np.ndarray) -> np.ndarray:
        """patients × items: segment popularity (smoothed with everyone's), interests first."""
        pop = self.popularity
        overall = pop.sum(axis=0)
        seg = segment_of(patients.age, patients.sex)
        p = pop[seg]
        p = p / np.maximum(p.max(axis=1, keepdims=True), 1.0)
        return (2.0 * boost + p + 0.1 * overall / max(overall.max(), 1.0)).astype(np.float32)

    def similarity(self) -> np.ndarray:
        n = np.linalg.norm(self.factors, axis=1, keepdims=True)
        u = self.factors / np.maximum(n, 1e-9)
        return u @ u.T

    # -- files --------------------------------------------------------------------------------
    def save(self, folder: Path) -> None:
        (folder / "items.json").write_text(
            json.dumps(list(self.item_keys), ensure_ascii=False), "utf-8"
        )
        np.save(folder / "factors.npy", self.factors, allow_pickle=False)
        np.save(folder / "popularity.npy", self.popularity, allow_pickle=False)
        (folder / "params.json").write_text(json.dumps(self.params), "utf-8")

    @classmethod
    def load(cls, folder: Path) -> RecModel:
        try:
            keys = np.asarray(json.loads((folder / "items.json").read_text("utf-8")), dtype=object)
            factors = np.load(folder / "factors.npy", allow_pickle=False)
            pop = np.load(folder / "popularity.npy", allow_pickle=False)
            params = json.loads((folder / "params.json").read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise ModelError(
                f"推荐模型文件损坏 / damaged recommendation model {folder.name}: "
                f"{type(exc).__name__}"
            ) from None
        if (
            factors.ndim != 2
            or factors.shape[0] != len(keys)
            or pop.shape != (N_SEGMENTS, len(keys))
            or not {"factors", "regularization", "alpha"} <= set(params)
        ):
            raise ModelError(
                f"推荐模型文件不一致 / inconsistent recommendation model {folder.name}: retrain it"
            )
        return cls(keys, factors.astype(np.float32), pop.astype(np.float64), params)

    def align(self, items: Items) -> RecModel:
        """The model over today's items: items it never saw get zero factors and popularity."""
        pos = np.searchsorted(self.item_keys, items.key)
        ok = (pos < len(self.item_keys)) & (
            self.item_keys[np.minimum(pos, len(self.item_keys) - 1)] == items.key
        )
        fac = np.zeros((len(items), self.factors.shape[1]), dtype=np.float32)
        fac[ok] = self.factors[pos[ok]]
        pop = np.zeros((N_SEGMENTS, len(items)))
        pop[:, ok] = self.popularity[:, pos[ok]]
        return RecModel(items.key.copy(), fac, pop, self.params)


def blend_scores(
    als: np.ndarray, fallback: np.ndarray, kinds: np.ndarray, blend: dict[str, float]
) -> np.ndarray:
    """Per kind with a weight β: (1 − β)·ALS + β·fallback (popularity of the patient's age band
    and sex, their conditions' interests), each scaled to its row maximum over the kind's items
    and the result scaled back to the ALS row maximum (so kinds still compare in an all-kind
    ranking). Kinds without a weight keep their ALS scores."""
    out = als.copy()
    for kind, beta in blend.items():
        cols = kinds == kind
        if beta <= 0 or not cols.any():
            continue
        a = als[:, cols]
        top = np.max(np.abs(a), axis=1, keepdims=True)
        f = fallback[:, cols]
        f = f / np.maximum(f.max(axis=1, keepdims=True), 1e-9)
        mix = (1.0 - beta) * a / np.maximum(top, 1e-9) + beta * f
        out[:, cols] = mix * np.where(top > 0, top, 1.0)
    return out


def segment_popularity(weights: sparse.csr_matrix, seg: np.ndarray) -> np.ndarray:
    """segments × items: distinct patients of each segment with the item (`weights` rows are
    the patients, `seg` their segments)."""
    used = (weights > 0).astype(np.float64).tocsr()
    ind = sparse.csr_matrix(
        (np.ones(len(seg)), (seg, np.arange(len(seg)))), shape=(N_SEGMENTS, len(seg))
    )
    return np.asarray((ind @ used).todense())


def top_n(scores: np.ndarray, allowed: np.ndarray, n: int) -> np.ndarray:
    """Per row the indices of the `n` best allowed items (best first; −1 pads)."""
    s = np.where(allowed, scores, -np.inf)
    n_items = s.shape[1]
    k = min(n, n_items)
    if k == 0:
        return np.full((s.shape[0], n), -1)
    part = np.argpartition(-s, k - 1, axis=1)[:, :k]
    order = np.take_along_axis(s, part, axis=1)
    idx = np.take_along_axis(part, np.argsort(-order, axis=1, kind="stable"), axis=1)
    vals = np.take_along_axis(s, idx, axis=1)
    idx = np.where(np.isfinite(vals), idx, -1)
    if k < n:
        idx = np.hstack([idx, np.full((s.shape[0], n - k), -1)])
    return idx
