"""Triage learnt from the hospital's own consultations: complaint text → the department.

Method: character 1–3-gram TF-IDF (NFKC-normalised, lower-cased, sublinear tf, L2 norm; Chinese
needs no word segmentation at this grain, and misspellings still share most n-grams) and a
multinomial logistic regression (L2, `models.triage_c`; with `models.triage_balanced` each
department's consultations weigh the same in total, which buys macro recall: 5-fold on the
shipped general set, top-1 48.5 → 49.5 %, macro recall 46.2 → 48.1 %). Identical (text,
department) pairs are fitted once with their count as the sample weight, so a simulator's few
hundred distinct complaints over 100,000 consultations fit in a second; the IDF is then over
distinct texts.

`train` reads `consultations` (complaint, department) before the as-of cut-off, checks the
model on the last `models.triage_holdout_days` days when a model fitted on the earlier days
(a time split: the later complaints were not seen), then refits on everything and registers it
in the model registry. The model is saved as JSON (vocabulary, classes) and an `.npz` of plain
arrays read back with `allow_pickle=False`: loading never unpickles anything.

As a ranker (`SupervisedModel.rank_batch`, the shape of `careops.triage.evaluate.Ranker`) it
scores each catalogue department with its probability renormalised over the catalogue; a
catalogue department the model never saw in the data scores 0 (blend with the zero-shot ranker
to cover those).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from careops.errors import InvalidInput

if TYPE_CHECKING:  # scoring imports neither SciPy nor the registry (Ibis): loads in well < 1 s
    import scipy.sparse as sp

    from careops.models.registry import ModelMeta, Registry

KIND = "triage"
FORMAT_VERSION = 1
NGRAMS = (1, 3)
#: the longest text scored; longer texts are cut (the n-grams of 2,000 characters decide)
MAX_CHARS = 2000
#: the tables training reads, with their time column (the data fingerprint)
SOURCES = {"consultations": "started_at"}
VOCAB_FILE, ARRAYS_FILE = "vocabulary.json", "weights.npz"


def normalise(text: str) -> str:
    """NFKC (full-width letters and digits to half-width), lower case, cut to MAX_CHARS."""
    return unicodedata.normalize("NFKC", text[:MAX_CHARS]).lower()


_SPACES = re.compile(r"\s\s+")


def char_ngrams(text: str) -> list[str]:
    """The character 1–3-grams of a normalised text (runs of white space as one space): the
    terms sklearn's `CountVectorizer(analyzer="char", ngram_range=(1, 3))` makes, computed
    here so that scoring needs no scikit-learn import (it takes seconds to load)."""
    doc = _SPACES.sub(" ", normalise(text))
    grams = list(doc)
    for n in range(max(NGRAMS[0], 2), min(NGRAMS[1], len(doc)) + 1):
        grams.extend(doc[i : i + n] for i in range(len(doc) - n + 1))
    return grams


def term_counts(text: object, vocabulary: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(term indices, counts) of one text over a fixed vocabulary, indices ascending; a
    non-text counts as an empty text."""
    counts = Counter(
        j
        for j in map(vocabulary.get, char_ngrams(text if isinstance(text, str) else ""))
        if j is not None
    )
    cols = sorted(counts)
    return np.array(cols, dtype=np.int64), np.array([counts[j] for j in cols], dtype=np.float64)


def count_matrix(texts: Sequence[str], vocabulary: dict[str, int]) -> sp.csr_matrix:
    """Term counts of `texts` over a fixed vocabulary (terms outside it are dropped)."""
    import scipy.sparse as sp

    indptr, indices, data = [0], [], []
    for text in texts:
        cols, counts = term_counts(text, vocabulary)
        indices.extend(cols.tolist())
        data.extend(counts.tolist())
        indptr.append(len(indices))
    return sp.csr_matrix(
        (np.array(data, dtype=np.float64), np.array(indices, dtype=np.int64), indptr),
        shape=(len(texts), len(vocabulary)),
    )


def _tfidf(counts: sp.csr_matrix, idf: np.ndarray) -> sp.csr_matrix:
    """Sublinear tf × idf, rows L2-normalised (what sklearn's TfidfVectorizer computes)."""
    import scipy.sparse as sp

    x = counts.astype(np.float64).tocsr()
    np.log(x.data, out=x.data)
    x.data += 1.0
    x = x.multiply(idf).tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    return sp.csr_matrix(sp.diags(1.0 / norms) @ x)


@dataclass
class SupervisedModel:
    """A fitted char n-gram TF-IDF + logistic regression over `classes_`."""

    c: float = 10.0
    #: weigh each department's questions to the same total (macro recall over top-1)
    balanced: bool = False
    vocabulary_: dict[str, int] = field(default_factory=dict, repr=False)
    idf_: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    coef_: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)), repr=False)
    intercept_: np.ndarray = field(default_factory=lambda: np.zeros(0), repr=False)
    classes_: list[str] = field(default_factory=list)

    def fit(
        self, texts: Sequence[str], labels: Sequence[str], weights: Sequence[float] | None = None
    ) -> SupervisedModel:
        """Fit on texts and their departments (optionally weighted); at least two departments."""
        from sklearn.linear_model import LogisticRegression

        if len(texts) != len(labels):
            raise ValueError("texts and labels differ in length")
        classes = sorted(set(labels))
        if len(classes) < 2:
            raise InvalidInput(
                f"训练数据只有 {len(classes)} 个科室, 至少需要 2 个 / the training data name "
                f"{len(classes)} department(s); at least 2 are needed",
                field="department",
            )
        terms = sorted({g for t in texts for g in char_ngrams(t)})
        vocabulary = {g: i for i, g in enumerate(terms)}
        counts = count_matrix(texts, vocabulary)
        df = np.bincount(counts.indices, minlength=counts.shape[1])
        n = counts.shape[0]
        idf = np.log((1 + n) / (1 + df)) + 1.0
        x = _tfidf(counts, idf)
        w = np.ones(n) if weights is None else np.asarray(weights, dtype=np.float64)
        if self.balanced:
            y = np.asarray(labels, dtype=object)
            totals = {d: w[y == d].sum() for d in classes}
            w = w * np.array([w.sum() / (len(classes) * totals[d]) for d in labels])
        lr = LogisticRegression(C=self.c, max_iter=2000)
        lr.fit(x, list(labels), sample_weight=w)
        coef, intercept = lr.coef_, lr.intercept_
        if len(classes) == 2:  # binary: softmax([0, z]) == sigmoid(z)
            coef = np.vstack([np.zeros_like(coef), coef])
            intercept = np.concatenate([[0.0], intercept])
        self.vocabulary_ = vocabulary
        self.idf_, self.coef_, self.intercept_ = idf, coef, intercept
        self.classes_ = [str(c) for c in lr.classes_]
        return self

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """P(department | text), one row per text, columns in `classes_` order."""
        z = np.tile(self.intercept_, (len(texts), 1))
        for row, text in enumerate(texts):
            cols, counts = term_counts(text, self.vocabulary_)
            if cols.size:
                x = (1.0 + np.log(counts)) * self.idf_[cols]  # the _tfidf of one row
                z[row] += self.coef_[:, cols] @ (x / np.sqrt(x @ x))
        z -= np.max(z, axis=1, keepdims=True)
        p = np.exp(z)
        return p / p.sum(axis=1, keepdims=True)

    def rank_batch(
        self, texts: Sequence[str], departments: Sequence[str]
    ) -> list[list[tuple[str, float]]]:
        """Per text, every catalogue department with its probability given that the answer is
        in the catalogue, best first (ties in catalogue order); departments the model never saw
        score 0."""
        if not texts:
            return []
        p = self.probabilities(texts)
        col = {c: i for i, c in enumerate(self.classes_)}
        idx = np.array([col.get(d.strip(), -1) for d in departments])
        scores = np.where(idx >= 0, p[:, np.maximum(idx, 0)], 0.0)
        total = scores.sum(axis=1, keepdims=True)
        scores = np.divide(scores, total, out=np.zeros_like(scores), where=total > 0)
        order = np.argsort(-scores, axis=1, kind="stable")
        names = list(departments)
        return [
            [(names[j], round(float(row[j]), 6)) for j in o]
            for row, o in zip(scores, order, strict=True)
        ]

    # -- files: JSON and plain arrays, nothing unpickled --------------------------------------
    def save(self, folder: Path) -> None:
        folder = Path(folder)
        (folder / VOCAB_FILE).write_text(
            json.dumps(
                {
                    "classes": self.classes_,
                    "vocabulary": self.vocabulary_,
                    "c": self.c,
                    "balanced": self.balanced,
                },
                ensure_ascii=False,
            ),
            "utf-8",
        )
        np.savez_compressed(
            folder / ARRAYS_FILE, idf=self.idf_, coef=self.coef_, intercept=self.intercept_
        )

    @classmethod
    def load(cls, folder: Path) -> SupervisedModel:
        """Read a saved model back, checking that its parts fit together."""
        folder = Path(folder)
        try:
            data = json.loads((folder / VOCAB_FILE).read_text("utf-8"))
            with np.load(folder / ARRAYS_FILE, allow_pickle=False) as arrays:
                idf, coef, intercept = (
                    np.asarray(arrays[k], dtype=np.float64) for k in ("idf", "coef", "intercept")
                )
            classes = [str(c) for c in data["classes"]]
            vocab = {str(k): int(v) for k, v in data["vocabulary"].items()}
            c, balanced = float(data["c"]), bool(data.get("balanced", False))
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            from careops.models.registry import ModelError

            raise ModelError(
                f"分诊模型文件损坏 / damaged triage model in {folder.name}: {type(exc).__name__}"
            ) from None
        v, k = len(vocab), len(classes)
        from careops.models.registry import ModelError

        if (
            idf.shape != (v,)
            or coef.shape != (k, v)
            or intercept.shape != (k,)
            or sorted(vocab.values()) != list(range(v))
            or k < 2
        ):
            raise ModelError(
                f"分诊模型文件不一致 / inconsistent triage model in {folder.name}: "
                f"{k} classes, {v} terms, arrays {idf.shape} {coef.shape} {intercept.shape}"
            )
        return cls(
            c=c,
            balanced=balanced,
            vocabulary_=vocab,
            idf_=idf,
            coef_=coef,
            intercept_=intercept,
            classes_=classes,
        )


# -- metrics shared with evaluate.py (kept here so training needs nothing else) ---------------
def top_k_hits(ranked: list[list[tuple[str, float]]], truth: Sequence[str], k: int) -> np.ndarray:
    """1 where the true department is among the first k of the ranking, else 0."""
    return np.array([int(t in [d for d, _ in r[:k]]) for r, t in zip(ranked, truth, strict=True)])


def weighted_scores(
    model: SupervisedModel, texts: list[str], labels: list[str], weights: np.ndarray
) -> dict[str, Any]:
    """Top-1, top-3 and macro recall (mean over true departments of the top-1 recall), each
    row counted `weights` times."""
    ranked = model.rank_batch(texts, model.classes_)
    t1, t3 = top_k_hits(ranked, labels, 1), top_k_hits(ranked, labels, 3)
    w = weights.astype(np.float64)
    recalls = {}
    for d in sorted(set(labels)):
        m = np.array([lab == d for lab in labels])
        recalls[d] = float((t1[m] * w[m]).sum() / w[m].sum())
    return {
        "n": int(w.sum()),
        "distinct_texts": len(set(texts)),
        "top1": round(float((t1 * w).sum() / w.sum()), 4),
        "top3": round(float((t3 * w).sum() / w.sum()), 4),
        "macro_recall": round(float(np.mean(list(recalls.values()))), 4),
    }


# -- the service: train from the warehouse, register, load ------------------------------------
def _pairs(con, start: dt.datetime | None, end: dt.datetime) -> tuple[list, list, np.ndarray]:
    """Distinct (complaint, department) pairs with their counts, started in [start, end)."""
    import ibis

    t = con.table("consultations")
    typ = t.started_at.type()

    def lit(moment: dt.datetime):
        return ibis.literal(moment if typ.timezone else moment.replace(tzinfo=None), type=typ)

    cond = [t.started_at < lit(end), t.complaint.notnull(), t.department.notnull()]
    if start is not None:
        cond.append(t.started_at >= lit(start))
    q = (
        t.filter(*cond)
        .mutate(text=t.complaint.strip(), dept=t.department.strip())
        .filter(lambda s: (s.text != "") & (s.dept != ""))
        .group_by(["text", "dept"])
        .aggregate(n=lambda s: s.count())
        .order_by(["dept", "text"])
        .to_pyarrow()
    )
    return (
        q.column("text").to_pylist(),
        q.column("dept").to_pylist(),
        q.column("n").to_numpy().astype(np.float64),
    )


def fit_from_warehouse(
    con, cutoff: dt.datetime, c: float, holdout_days: int, balanced: bool = False
) -> tuple[SupervisedModel, dict[str, Any]]:
    """The model on every complaint before `cutoff`, and its time-split check (fitted before
    the last `holdout_days` days, scored on them) when both parts have data."""
    texts, labels, w = _pairs(con, None, cutoff)
    if not texts:
        raise InvalidInput(
            "问诊表中截至该日没有带主诉和科室的记录, 无法训练 / no consultation before the as-of "
            "date has both a complaint and a department: nothing to learn from",
            field="as_of",
        )
    report: dict[str, Any] = {"training": {"consultations": int(w.sum()), "distinct": len(texts)}}
    if holdout_days > 0:
        split = cutoff - dt.timedelta(days=holdout_days)
        early = _pairs(con, None, split)
        late = _pairs(con, split, cutoff)
        if len(set(early[1])) >= 2 and late[0]:
            m = SupervisedModel(c=c, balanced=balanced).fit(*early)
            report["time_split"] = {
                "split": split.isoformat(),
                **weighted_scores(m, late[0], late[1], late[2]),
            }
    model = SupervisedModel(c=c, balanced=balanced).fit(texts, labels, w)
    report["departments"] = model.classes_
    return model, report


def _registry(ops) -> Registry:
    from careops.models.registry import Registry, registry_dir

    return Registry(registry_dir(ops.warehouse_url, ops.settings))


def train(ops, as_of: dt.date) -> ModelMeta:
    """Fit the triage model on complaints before `as_of` and register it (`ops`: a
    `careops.service.Ops`)."""
    from careops.asof import AsOf
    from careops.models.registry import ModelMeta, fingerprint, library_versions

    ops.require("tags.compute")
    m = ops.settings.models
    with ops.warehouse(read_only=True) as con:
        cutoff = AsOf(con, as_of, ops.settings).cutoff
        model, report = fit_from_warehouse(
            con, cutoff, m.triage_c, m.triage_holdout_days, m.triage_balanced
        )
        print_ = fingerprint(con, cutoff, SOURCES)
    reg = _registry(ops)
    model_id, tmp = reg.new_folder(KIND, as_of)
    try:
        model.save(tmp)
        meta = ModelMeta(
            kind=KIND,
            model_id=model_id,
            format_version=FORMAT_VERSION,
            as_of=as_of.isoformat(),
            trained_at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            fingerprint=print_,
            settings={
                "c": m.triage_c,
                "balanced": m.triage_balanced,
                "holdout_days": m.triage_holdout_days,
                "ngrams": list(NGRAMS),
                "timezone": ops.settings.timezone,
            },
            libraries=library_versions(),
            evaluation=report,
        )
        final = reg.commit(meta, tmp)
    except BaseException:
        reg.discard(tmp)
        raise
    ops.audit("triage.train", str(final), {"as_of": as_of.isoformat(), "model_id": model_id})
    return meta


def load(ops, as_of: dt.date, model_id: str | None = None) -> tuple[ModelMeta, SupervisedModel]:
    """The triage model to use as of `as_of` (`model_id`, else the newest trained as of it or
    earlier), checked for format, library versions and leakage."""
    from careops.models.registry import check_compatible, check_usable

    ops.require("models.read")
    reg = _registry(ops)
    meta = reg.show(model_id) if model_id else reg.latest(KIND, as_of)
    check_compatible(meta, KIND, FORMAT_VERSION)
    check_usable(meta, as_of)
    return meta, SupervisedModel.load(reg.folder(meta.model_id))
