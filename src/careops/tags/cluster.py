"""K-Means clustering on standardised behaviour and value features: data-driven layers.

k is chosen by the silhouette score within a range; everything is seeded, so the same data and
seed give the same clusters. Each cluster is profiled by the features that set it apart most
(mean z-score) and by over-represented layer values (codes; `layers_text` reads them), and gets
a proposed Chinese name.

Speed (3,000 patients, k = 2..8): scikit-learn's OpenMP threads spin against each other on a
busy two-core machine (KMeans 0.44 s per run instead of milliseconds), so the fits run on one
thread; k-means++ with 3 starts instead of 10 finds the same clusters here; the silhouette is
scored on a seeded sample of 2,000 patients; above 20,000 fitted patients k is chosen with
MiniBatchKMeans. Measured in benchmarks/bench_cluster.py.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import date

import numpy as np
from ibis.backends import BaseBackend

from careops.config import Settings
from careops.labels import layer_label, value_label
from careops.tags.compute import require_patients
from careops.tags.errors import TagError
from careops.tags.snapshot import tags_at

# feature: (zh name when high, zh name when low, transform)
FEATURES: dict[str, tuple[str, str, str]] = {
    "active_days_30d": ("活跃", "低活跃", "log1p"),
    "inactive_days": ("沉睡", "近期活跃", "log1p"),
    "consults_90d": ("常问诊", "少问诊", "log1p"),
    "orders_90d": ("常购买", "少购买", "log1p"),
    "spend_cny": ("高消费", "低消费", "log1p"),
    "rfm_score": ("高RFM", "低RFM", "none"),
    "health_contribution": ("热心分享", "少分享", "none"),
    "age": ("年长", "年轻", "none"),
}
PROFILE_LAYERS = ("lifecycle", "value", "health_need")
MIN_LIFT = 1.2  # a layer value is over-represented when its share in the cluster is ≥ 1.2×
FIT_SAMPLE = 50_000
SILHOUETTE_SAMPLE = 2_000
N_INIT = 3
MINIBATCH_ABOVE = 20_000


@dataclass
class Cluster:
    cluster: int
    size: int
    share: float
    name_zh: str
    traits: list[str]
    means: dict[str, float]
    layers: dict[str, str] = field(default_factory=dict)  # dimension → over-represented code
    lifts: dict[str, float] = field(default_factory=dict)  # dimension → share in / share overall


@dataclass
class Clustering:
    k: int
    silhouette: float
    scores: dict[int, float]
    clusters: list[Cluster]
    seed: int

    def to_dict(self) -> dict:
        return asdict(self)


def _matrix(table) -> tuple[np.ndarray, np.ndarray]:
    cols = []
    for name, (_, _, how) in FEATURES.items():
        x = np.asarray(table[name].to_numpy(zero_copy_only=False), dtype="float64")
        if name == "age":
            x = np.where(np.isnan(x), np.nanmedian(x) if np.isfinite(x).any() else 0.0, x)
        x = np.nan_to_num(x, nan=0.0)
        cols.append(np.log1p(np.clip(x, 0, None)) if how == "log1p" else x)
    raw = np.column_stack(cols)
    mean, std = raw.mean(axis=0), raw.std(axis=0)
    std[std == 0] = 1.0
    return (raw - mean) / std, raw


def cluster_patients(
    con: BaseBackend,
    as_of: date,
    *,
    k_range: tuple[int, int] = (2, 8),
    seed: int = 0,
    settings: Settings | None = None,
) -> Clustering:
    """Cluster the patients as of a date; k from `k_range` by silhouette."""
    from threadpoolctl import threadpool_limits

    k_min, k_max = k_range
    if k_min < 2 or k_max < k_min:
        raise TagError(
            f"k 范围 {k_min}–{k_max}: 须 2 ≤ k-min ≤ k-max / k range {k_min}–{k_max}: needs "
            "2 ≤ k-min ≤ k-max"
        )
    require_patients(con, as_of, settings)
    data = (
        tags_at(con, as_of, [*FEATURES, *PROFILE_LAYERS], settings=settings)
        .order_by("user_id")
        .to_pyarrow()
    )
    n = data.num_rows
    z, _ = _matrix(data)
    distinct = len(np.unique(z.round(9), axis=0))
    if distinct < 3:
        raise TagError(
            f"{n} 位患者中只有 {distinct} 种不同的行为特征, 太少, 无法聚类 / only {distinct} "
            f"distinct behaviour profiles among {n} patients: too few to cluster"
        )
    k_max = min(k_max, distinct - 1)
    k_min = min(k_min, k_max)
    rng = np.random.default_rng(seed)
    fit_rows = rng.choice(n, FIT_SAMPLE, replace=False) if n > FIT_SAMPLE else np.arange(n)
    fit = z[fit_rows]
    with threadpool_limits(limits=1):  # OpenMP threads spin against each other on 2 cores
        scores, models = _fit_range(fit, k_min, k_max, seed)
        if not scores:
            raise TagError(
                "患者的特征无法分成不同的群 / the patients' features do not separate into clusters"
            )
        best = max(scores, key=lambda k: (scores[k], -k))
        labels = models[best].predict(z)
    clusters = _profile(data, z, labels, best)
    return Clustering(best, scores[best], scores, clusters, seed)


def _fit_range(fit: np.ndarray, k_min: int, k_max: int, seed: int) -> tuple[dict, dict]:
    """A seeded k-means per k and its silhouette (on a seeded sample of the fitted rows)."""
    from sklearn.cluster import KMeans, MiniBatchKMeans
    from sklearn.metrics import silhouette_score

    scores, models = {}, {}
    for k in range(k_min, k_max + 1):
        if len(fit) > MINIBATCH_ABOVE:
            model = MiniBatchKMeans(
                n_clusters=k, n_init=N_INIT, batch_size=4096, random_state=seed
            ).fit(fit)
        else:
            model = KMeans(n_clusters=k, n_init=N_INIT, random_state=seed).fit(fit)
        labels = model.labels_
        if len(set(labels)) < 2:
            continue
        scores[k] = float(
            silhouette_score(
                fit, labels, sample_size=min(SILHOUETTE_SAMPLE, len(fit)), random_state=seed
            )
        )
        models[k] = model
    return scores, models


def _profile(data, z: np.ndarray, labels: np.ndarray, k: int) -> list[Cluster]:
    names = list(FEATURES)
    n = len(labels)
    layer_values = {d: np.asarray(data[d].to_pylist(), dtype=object) for d in PROFILE_LAYERS}
    out = []
    order = sorted(range(k), key=lambda c: -(labels == c).sum())
    for rank, c in enumerate(order):
        mask = labels == c
        means = z[mask].mean(axis=0)
        top = np.argsort(-np.abs(means))[:3]
        traits, words = [], []
        for i in top:
            high, low, _ = FEATURES[names[i]]
            word = high if means[i] > 0 else low
            traits.append(f"{word} ({names[i]} z={means[i]:+.2f})")
            if (
                abs(means[i]) >= 0.3
                and len(words) < 2
                and not any(_overlap(word, w) for w in words)
            ):
                words.append(word)
        layers, lifts = {}, {}
        for d, values in layer_values.items():
            inside = values[mask]
            best, lift = None, MIN_LIFT
            for v in sorted(set(inside), key=str):
                share_all = (values == v).mean()
                if share_all > 0 and (inside == v).mean() / share_all >= lift:
                    best, lift = v, (inside == v).mean() / share_all
            if best is not None:
                layers[d] = str(best)
                lifts[d] = round(float(lift), 2)
        name = "".join(words) + "人群" if words else "普通人群"
        out.append(
            Cluster(
                rank,
                int(mask.sum()),
                float(mask.sum() / n),
                name,
                traits,
                {names[i]: round(float(means[i]), 3) for i in range(len(names))},
                layers,
                lifts,
            )
        )
    return out


def _overlap(a: str, b: str) -> bool:
    """Two name words share two characters in a row (近期活跃 / 活跃): one doubles the other."""
    return any(a[i : i + 2] in b for i in range(len(a) - 1))


def layers_text(c: Cluster, lang: str = "zh") -> str:
    """A cluster's over-represented layer values: "生命周期 活跃用户 ×2.3; 价值 高价值 ×3.1"."""
    return "; ".join(
        f"{layer_label(d, lang)} {value_label(d, v, lang)} ×{c.lifts[d]:.1f}"
        for d, v in c.layers.items()
    )
