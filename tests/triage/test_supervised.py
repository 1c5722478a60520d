"""The supervised triage model: features and probabilities equal scikit-learn's reference
pipeline, files read back exactly and refused when damaged, training from `consultations` on
DuckDB and PostgreSQL with a time split, and the registry's as-of rules."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pyarrow as pa
import pytest

from careops.errors import InvalidInput, NotFound
from careops.models.registry import ModelError
from careops.service import Ops
from careops.triage import supervised
from careops.triage.evaluate import shipped_set
from careops.triage.supervised import (
    SupervisedModel,
    _tfidf,
    char_ngrams,
    count_matrix,
    fit_from_warehouse,
    normalise,
)
from careops.warehouse import connect, create_tables
from tests.conftest import fill

TOY = {
    "消化内科": ["胃疼反酸", "拉肚子三天", "胃胀恶心", "大便发黑", "胃镜检查"],
    "呼吸内科": ["咳嗽有痰", "咳嗽发烧", "喘不上气", "肺部CT结节", "干咳一周"],
    "心血管内科": ["血压高头晕", "胸闷心慌", "心跳快", "降压药", "血压160"],
}


def _toy() -> tuple[list[str], list[str]]:
    texts = [t for ts in TOY.values() for t in ts]
    labels = [d for d, ts in TOY.items() for _ in ts]
    return texts, labels


def test_char_ngrams_are_sklearns_and_normalised():
    from sklearn.feature_extraction.text import CountVectorizer

    cv = CountVectorizer(analyzer="char", ngram_range=(1, 3), preprocessor=normalise)
    analyse = cv.build_analyzer()
    for text in ["ＣＴ检查", "乙肝e抗原  阳性", "a", "", "咳\t\t嗽", "HPV16 阳性"]:
        assert char_ngrams(text) == analyse(text)
    assert char_ngrams("ＣＴ") == ["c", "t", "ct"]  # full width folded, lower-cased


def test_features_and_probabilities_equal_the_sklearn_pipeline():
    """Reference: TfidfVectorizer(char 1–3, sublinear) + LogisticRegression(C) fitted by
    scikit-learn itself on the shipped general set."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    data = shipped_set("general")
    texts = [q.text for q in data.questions]
    labels = [q.department for q in data.questions]
    model = SupervisedModel(c=10.0).fit(texts, labels)
    vec = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), preprocessor=normalise, sublinear_tf=True
    )
    x = vec.fit_transform(texts)
    assert vec.vocabulary_ == model.vocabulary_
    assert abs(x - _tfidf(count_matrix(texts, model.vocabulary_), model.idf_)).max() < 1e-12
    ref = LogisticRegression(C=10.0, max_iter=2000).fit(x, labels)
    assert list(ref.classes_) == model.classes_
    probe = ["孩子发烧咳嗽", "血压高", "牙疼", "HPV阳性"]
    np.testing.assert_allclose(
        model.probabilities(probe), ref.predict_proba(vec.transform(probe)), atol=1e-9
    )


def test_two_departments_equal_sklearns_binary_model():
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, labels = _toy()
    texts, labels = texts[:10], labels[:10]
    model = SupervisedModel(c=3.0).fit(texts, labels)
    vec = TfidfVectorizer(
        analyzer="char", ngram_range=(1, 3), preprocessor=normalise, sublinear_tf=True
    )
    ref = LogisticRegression(C=3.0, max_iter=2000).fit(vec.fit_transform(texts), labels)
    probe = ["胃疼", "咳嗽"]
    np.testing.assert_allclose(
        model.probabilities(probe), ref.predict_proba(vec.transform(probe)), atol=1e-9
    )


def test_weights_equal_repeated_rows_for_the_regression():
    """A (text, department) pair weighted 3 is the same regression objective as the pair
    three times (the IDF is over distinct texts in both, so it is fixed here by one fit)."""
    texts, labels = _toy()
    w = np.array([3.0 if i % 4 == 0 else 1.0 for i in range(len(texts))])
    weighted = SupervisedModel().fit(texts, labels, w)
    rep_t = [t for t, k in zip(texts, w, strict=True) for _ in range(int(k))]
    rep_l = [d for d, k in zip(labels, w, strict=True) for _ in range(int(k))]
    repeated = SupervisedModel().fit(rep_t, rep_l)
    # the repeated fit's IDF counts repeats as documents; refit with the weighted model's IDF
    from sklearn.linear_model import LogisticRegression

    x = _tfidf(count_matrix(rep_t, weighted.vocabulary_), weighted.idf_)
    ref = LogisticRegression(C=10.0, max_iter=2000).fit(x, rep_l)
    probe = ["胃痛", "喘"]
    np.testing.assert_allclose(
        weighted.probabilities(probe),
        ref.predict_proba(_tfidf(count_matrix(probe, weighted.vocabulary_), weighted.idf_)),
        atol=1e-5,
    )
    assert repeated.classes_ == weighted.classes_


def test_ranks_the_catalogue_with_unknown_departments_last():
    model = SupervisedModel().fit(*_toy())
    out = model.rank_batch(["胃疼反酸好几天", "咳嗽咳痰"], ["皮肤科", "消化内科", "呼吸内科"])
    assert [r[0][0] for r in out] == ["消化内科", "呼吸内科"]
    for r in out:
        assert r[-1] == ("皮肤科", 0.0)
        assert [s for _, s in r] == sorted((s for _, s in r), reverse=True)
        assert sum(s for _, s in r) == pytest.approx(1.0, abs=1e-5)
    assert model.rank_batch([], ["消化内科"]) == []


@pytest.mark.parametrize("text", ["", " ", "x" * 10_000, "hello world", "🙂" * 50, "\x00\n"])
def test_any_text_gets_a_full_ranking(text):
    model = SupervisedModel().fit(*_toy())
    (r,) = model.rank_batch([text], list(TOY))
    assert sorted(d for d, _ in r) == sorted(TOY)
    assert all(np.isfinite(s) and 0 <= s <= 1 for _, s in r)


def test_one_department_is_refused():
    with pytest.raises(InvalidInput, match="至少需要 2 个"):
        SupervisedModel().fit(["胃疼", "胃胀"], ["消化内科", "消化内科"])


def test_saved_and_loaded_back_exactly(tmp_path):
    model = SupervisedModel(c=3.0, balanced=True).fit(*_toy())
    model.save(tmp_path)
    back = SupervisedModel.load(tmp_path)
    probe = ["胃疼", "血压高", "咳嗽"]
    assert back.classes_ == model.classes_ and back.vocabulary_ == model.vocabulary_
    assert (back.c, back.balanced) == (3.0, True)
    np.testing.assert_array_equal(back.probabilities(probe), model.probabilities(probe))


def test_damaged_files_are_refused_without_unpickling(tmp_path):
    model = SupervisedModel().fit(*_toy())
    model.save(tmp_path)
    arrays = dict(np.load(tmp_path / supervised.ARRAYS_FILE))
    # an object array needs pickle: refused, not loaded
    np.savez(tmp_path / supervised.ARRAYS_FILE, **{**arrays, "coef": np.array([{"a": 1}])})
    with pytest.raises(ModelError, match="损坏"):
        SupervisedModel.load(tmp_path)
    np.savez(tmp_path / supervised.ARRAYS_FILE, **{**arrays, "coef": arrays["coef"][:, :-1]})
    with pytest.raises(ModelError, match="不一致"):
        SupervisedModel.load(tmp_path)
    np.savez(tmp_path / supervised.ARRAYS_FILE, **arrays)
    (tmp_path / supervised.VOCAB_FILE).write_text("{not json", "utf-8")
    with pytest.raises(ModelError, match="损坏"):
        SupervisedModel.load(tmp_path)
    (tmp_path / supervised.VOCAB_FILE).write_text(
        json.dumps({"classes": model.classes_, "vocabulary": {"a": 0}, "c": 1}), "utf-8"
    )
    with pytest.raises(ModelError, match="不一致"):
        SupervisedModel.load(tmp_path)


# -- training from the warehouse ---------------------------------------------------------------
T0 = dt.datetime(2025, 3, 1, 2, tzinfo=dt.UTC)


def consultations(rows: list[tuple[int, str | None, str | None]]) -> pa.Table:
    """(day offset from T0, complaint, department) rows as a consultations table."""
    return pa.table(
        {
            "consultation_id": [f"c{i}" for i in range(len(rows))],
            "user_id": [f"u{i % 7}" for i in range(len(rows))],
            "department": [d for _, _, d in rows],
            "started_at": [T0 + dt.timedelta(days=day) for day, _, _ in rows],
            "complaint": [c for _, c, _ in rows],
        }
    )


def history() -> list[tuple[int, str | None, str | None]]:
    rows = []
    for day in range(0, 60, 3):
        for dept, texts in TOY.items():
            rows.append((day, texts[day % len(texts)], dept))
    rows += [(5, None, "消化内科"), (6, "胃疼", None), (7, "  ", "消化内科")]  # not usable
    rows += [(70, "咳嗽有痰", "呼吸内科")]  # after the cut-off
    return rows


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_fit_from_consultations_with_a_time_split(make_warehouse, kind):
    con = make_warehouse(kind)
    rows = history()
    fill(con, {"consultations": consultations(rows)})
    cutoff = T0 + dt.timedelta(days=61)
    model, report = fit_from_warehouse(con, cutoff, 10.0, 15)
    usable = [r for r in rows if r[1] and r[1].strip() and r[2] and r[0] < 61]
    assert report["training"] == {
        "consultations": len(usable),
        "distinct": len({(c, d) for _, c, d in usable}),
    }
    ts = report["time_split"]
    late = [r for r in usable if r[0] >= 46]
    assert ts["n"] == len(late) and ts["split"] == (cutoff - dt.timedelta(days=15)).isoformat()
    assert ts["top1"] == 1.0  # the held-out complaints were all seen before the split
    assert model.classes_ == sorted(TOY)


def test_no_usable_consultation_is_a_clear_error(make_warehouse):
    con = make_warehouse("duckdb")
    fill(con, {"consultations": consultations([(1, None, "消化内科"), (2, "胃疼", None)])})
    with pytest.raises(InvalidInput, match="没有带主诉和科室"):
        fit_from_warehouse(con, T0 + dt.timedelta(days=10), 10.0, 30)


def test_train_registers_and_load_respects_the_as_of_date(tmp_path):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    fill(con, {"consultations": consultations(history())})
    con.disconnect()
    ops = Ops.open(url)
    as_of = dt.date(2025, 5, 1)
    meta = supervised.train(ops, as_of)
    assert meta.kind == "triage" and meta.as_of == "2025-05-01"
    assert meta.fingerprint["rows"] == {"consultations": len(history()) - 1}
    folder = tmp_path / "models" / "triage" / meta.model_id
    assert {p.name for p in folder.iterdir()} == {"meta.json", "vocabulary.json", "weights.npz"}
    got, model = supervised.load(ops, dt.date(2025, 6, 1))
    assert got.model_id == meta.model_id
    assert model.rank_batch(["胃疼"], list(TOY))[0][0][0] == "消化内科"
    with pytest.raises(NotFound, match="没有截至"):
        supervised.load(ops, dt.date(2025, 4, 30))


def test_balanced_equals_sklearns_balanced_class_weight():
    """Reference: LogisticRegression(class_weight="balanced") — n / (k · n_d) per row."""
    from sklearn.linear_model import LogisticRegression

    texts, labels = _toy()
    texts, labels = [*texts, "胃不舒服", "肚子痛"], [*labels, "消化内科", "消化内科"]
    model = SupervisedModel(balanced=True).fit(texts, labels)
    x = _tfidf(count_matrix(texts, model.vocabulary_), model.idf_)
    ref = LogisticRegression(C=10.0, max_iter=2000, class_weight="balanced").fit(x, labels)
    probe = ["胃疼", "咳嗽", "心慌"]
    x_probe = _tfidf(count_matrix(probe, model.vocabulary_), model.idf_)
    np.testing.assert_allclose(model.probabilities(probe), ref.predict_proba(x_probe), atol=1e-6)
    plain = SupervisedModel(balanced=False).fit(texts, labels)
    assert not np.allclose(plain.probabilities(probe), model.probabilities(probe), atol=1e-6)
