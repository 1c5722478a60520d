"""Recommendation parts on literal inputs: the fold-in against `implicit`, ranking metrics
worked by hand, the rule file (validation naming line and field, and its constraints), top-n."""

from __future__ import annotations

import contextlib
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import sparse

from careops.errors import ConfigError
from careops.models.recommend.evaluate import ranking_metrics
from careops.models.recommend.model import N_SEGMENTS, RecModel, confidence, top_n
from careops.models.recommend.rules import Items, Patients, load_rules, parse


def _weights(seed: int = 0, users: int = 300, items: int = 40) -> sparse.csr_matrix:
    rng = np.random.default_rng(seed)
    m = sparse.random(users, items, density=0.08, format="csr", random_state=seed)
    m.data = rng.integers(1, 6, m.nnz).astype(np.float32)
    return m.astype(np.float32)


PARAMS = {"factors": 8, "iterations": 5, "regularization": 0.1, "alpha": 3.0, "seed": 1}


def test_fold_in_is_implicits_least_squares_step():
    """Our vectorised fold-in equals `implicit`'s own `recalculate_user` (its exact solver)
    for every user, on the same item factors and confidences."""
    from implicit.cpu.als import AlternatingLeastSquares

    w = _weights()
    model = RecModel.fit(
        w, np.arange(40).astype(str).astype(object), np.zeros((N_SEGMENTS, 40)), PARAMS
    )
    als = AlternatingLeastSquares(factors=8, regularization=0.1, alpha=1.0)
    als.item_factors = model.factors.copy()
    c = confidence(w, 3.0)
    ref = als.recalculate_user(np.arange(w.shape[0]), c)
    mine = model.user_factors(w, chunk=37)  # chunks that do not divide the rows
    np.testing.assert_allclose(mine, ref, rtol=2e-3, atol=2e-4)


def test_confidence_is_one_plus_alpha_log():
    w = sparse.csr_matrix(np.array([[0, 1, 4]], dtype=np.float32))
    assert confidence(w, 2.0).toarray()[0].tolist() == pytest.approx(
        [0.0, 1 + 2 * math.log(2), 1 + 2 * math.log(5)], rel=1e-6
    )


def test_ranking_metrics_by_hand():
    # user 0: relevant {1, 4}; ranking [4, 0, 1] -> hits at ranks 1 and 3
    # user 1: relevant {2}; ranking [0, 3, -1] -> no hit; user 2 has nothing relevant (left out)
    rel = sparse.csr_matrix(
        np.array([[0, 1, 0, 0, 1], [0, 0, 1, 0, 0], [0, 0, 0, 0, 0]], dtype=np.float32)
    )
    top = np.array([[4, 0, 1], [0, 3, -1], [1, 2, 3]])
    card = ranking_metrics(top, rel, 3)
    assert card.patients == 2
    assert card.precision == pytest.approx((2 / 3 + 0) / 2, abs=1e-5)
    assert card.recall == pytest.approx((1.0 + 0) / 2, abs=1e-5)
    ndcg0 = (1 + 1 / math.log2(4)) / (1 + 1 / math.log2(3))
    assert card.ndcg == pytest.approx(ndcg0 / 2, abs=1e-5)


def test_top_n_skips_refused_and_pads():
    s = np.array([[0.1, 0.9, 0.5, 0.7]], dtype=np.float32)
    ok = np.array([[True, False, True, True]])
    assert top_n(s, ok, 3).tolist() == [[3, 2, 0]]
    assert top_n(s, ok, 5).tolist() == [[3, 2, 0, -1, -1]]


def _items() -> Items:
    rows = [
        ("content:C1", "C1", "content", "content", "儿童健康1", "", "儿童健康"),
        ("content:C2", "C2", "content", "content", "糖尿病1", "", "糖尿病"),
        ("doctor:D1", "D1", "doctor", "doctor", "儿科医生", "儿科", ""),
        ("drug:X", "X", "drug", "drug", "某药", "", ""),
        ("package:PKG-MAT", "PKG-MAT", "package", "package", "孕期管理包", "妇产科", "孕期"),
        ("service:CHK-SENIOR", "CHK-SENIOR", "service", "service", "老年体检", "", ""),
    ]
    return Items(*(np.array(c, dtype=object) for c in zip(*rows, strict=True)))


def test_shipped_rules_refuse_what_they_must():
    rules = load_rules()
    items = _items()
    p = Patients(
        np.array(["child", "woman", "cardiac_woman", "old_man", "unknown"], dtype=object),
        np.array([6, 30, 30, 70, -1]),
        np.array(["F", "F", "F", "M", "U"], dtype=object),
        [frozenset(), frozenset(), frozenset({"I25.1"}), frozenset({"E11.9"}), frozenset()],
    )
    ok = rules.allowed(p, items)
    #            C1(child) C2    D1(paed) drug   PKG-MAT CHK-SENIOR
    assert ok.tolist() == [
        [True, True, True, False, False, False],
        [False, True, False, False, True, False],
        [False, True, False, False, False, False],
        [False, True, False, False, False, True],
        [False, True, False, False, False, False],
    ]
    boost, labels = rules.interest(p, items)
    assert labels[3] == ["糖尿病"] and boost[3].tolist() == [0, 1, 0, 0, 0, 0]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("eligibility:\n  - name: x\n    items: [A]\n    max_age: 300\n", "eligibility.0.max_age"),
        ("eligibility:\n  - name: x\n    items: [A]\n    colour: red\n", "未知字段"),
        ("eligibility:\n  - name: x\n    max_age: 3\n", "selects no item"),
        ("eligibility:\n  - name: x\n    items: [A]\n", "restricts nothing"),
        ("eligibility:\n  - name: x\n    items: [A]\n    min_age: 9\n    max_age: 3\n", "min_age"),
        ("interests:\n  - label: 糖尿病\n    conditions: []\n", "interests.0.conditions"),
        ("- a\n- b\n", "映射"),
        ("a: [\n", "rules.yaml:"),
        ("!!python/object:os.system {}\n", "rules.yaml:"),
    ],
)
def test_a_bad_rule_file_names_line_and_field(text, where):
    with pytest.raises(ConfigError) as exc:
        parse(text, "rules.yaml")
    assert where in str(exc.value)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_rule_file_is_read_or_refused_cleanly(text):
    with contextlib.suppress(ConfigError):
        parse(text, "fuzz.yaml")


def test_model_files_round_trip_and_damage_is_refused(tmp_path):
    from careops.models.registry import ModelError

    keys = np.array([f"content:C{i}" for i in range(40)], dtype=object)
    model = RecModel.fit(_weights(), keys, np.ones((N_SEGMENTS, 40)), PARAMS)
    model.save(tmp_path)
    back = RecModel.load(tmp_path)
    np.testing.assert_array_equal(back.factors, model.factors)
    assert back.item_keys.tolist() == keys.tolist()
    np.save(tmp_path / "popularity.npy", np.ones((2, 3)))
    with pytest.raises(ModelError, match="inconsistent"):
        RecModel.load(tmp_path)
    (tmp_path / "factors.npy").write_bytes(b"not numpy")
    with pytest.raises(ModelError, match="damaged"):
        RecModel.load(tmp_path)


def test_no_interactions_cannot_be_fitted():
    from careops.models.registry import ModelError

    with pytest.raises(ModelError, match="no interactions"):
        RecModel.fit(
            sparse.csr_matrix((3, 4), dtype=np.float32),
            np.array(list("abcd")),
            np.zeros((N_SEGMENTS, 4)),
            PARAMS,
        )


_CODES = st.sampled_from(["E11", "E11.9", "E110", "I10", "I25.1", "I251", "I50", "Z34.0", "E1"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.frozensets(_CODES, max_size=4), min_size=0, max_size=30),
    st.lists(st.sampled_from(["E11", "I25", "I50", "Z34", "E1", "I10"]), max_size=3),
)
def test_vectorised_condition_match_equals_the_plain_reading(conds, prefixes):
    """`Patients.has_any` (string kernels over everyone's codes) answers as `has_condition`
    does per patient: E11 matches E11 and E11.9, not E110."""
    from careops.models.recommend.rules import has_condition

    n = len(conds)
    p = Patients(
        np.array([f"u{i}" for i in range(n)], dtype=object),
        np.zeros(n, dtype=np.int64),
        np.array(["F"] * n, dtype=object),
        conds,
    )
    want = [has_condition(c, tuple(prefixes)) for c in conds]
    assert p.has_any(tuple(prefixes)).tolist() == want


def test_matrix_from_arrow_drops_unknown_users_and_reads_recent():
    import pyarrow as pa

    from careops.models.recommend.data import to_matrix

    t = pa.table(
        {
            "user_id": ["b", "a", "zz", "b"],
            "col": pa.array([0, 2, 1, 3], pa.int32()),
            "weight": pa.array([1.0, 5.0, 4.0, 2.0], pa.float32()),
            "recent": [True, False, True, None],
        }
    )
    items = _items()
    users = np.array(["a", "b"], dtype=object)
    m = to_matrix(t, items, users).weights
    assert m.shape == (2, len(items))
    assert m.toarray()[:, :4].tolist() == [[0, 0, 5, 0], [1, 0, 0, 2]]
    r = to_matrix(t, items, users, value="recent").weights
    assert r.toarray()[:, :4].tolist() == [[0, 0, 0, 0], [1, 0, 0, 0]]
    assert to_matrix(t, items).users.tolist() == ["a", "b", "zz"]
    assert to_matrix(t.slice(0, 0), items, users).weights.nnz == 0


@pytest.mark.parametrize("seed", range(5))
def test_best_history_item_equals_a_plain_loop(seed):
    """The segment-maximum search for the history item behind a reason equals a loop over
    each patient's history (largest similarity × log(1 + weight), first on ties)."""
    from careops.models.recommend.rank import _best_history

    rng = np.random.default_rng(seed)
    h = _weights(seed, users=60, items=25)
    f = rng.normal(size=(25, 4))
    u = f / np.linalg.norm(f, axis=1, keepdims=True)
    sim = u @ u.T
    idx = rng.integers(0, 25, size=(60, 4))
    best, best_sim = _best_history(sim, h, idx)
    for p in range(60):
        items_ = h.indices[h.indptr[p] : h.indptr[p + 1]]
        w = h.data[h.indptr[p] : h.indptr[p + 1]]
        for r in range(4):
            if len(items_) == 0:
                assert best[p, r] == -1
                continue
            strength = [sim[i, idx[p, r]] * math.log1p(x) for i, x in zip(items_, w, strict=True)]
            a = int(np.argmax(strength))
            assert best[p, r] == items_[a]
            assert best_sim[p, r] == pytest.approx(sim[items_[a], idx[p, r]])


def test_blend_mixes_only_the_weighted_kind_and_keeps_its_scale():
    from careops.models.recommend.model import blend_scores

    kinds = np.array(["service", "service", "service", "content"], dtype=object)
    als = np.array([[0.4, 0.2, 0.1, 0.9], [0.0, 0.0, 0.0, 0.5]], dtype=np.float32)
    fb = np.array([[0.0, 1.0, 3.0, 7.0], [2.0, 1.0, 0.0, 0.0]], dtype=np.float32)
    np.testing.assert_array_equal(blend_scores(als, fb, kinds, {"service": 0.0}), als)
    out = blend_scores(als, fb, kinds, {"service": 1.0})
    # popularity alone orders the services; the row's ALS maximum is kept as the scale
    assert np.argsort(-out[0, :3]).tolist() == [2, 1, 0]
    assert out[0, :3].max() == pytest.approx(0.4)
    assert out[0, 3] == pytest.approx(0.9) and out[1, 3] == pytest.approx(0.5)
    # a patient with no ALS signal for the kind still gets the popularity order
    assert np.argsort(-out[1, :3]).tolist() == [0, 1, 2]
    half = blend_scores(als, fb, kinds, {"service": 0.5})
    want = (0.5 * als[0, :3] / 0.4 + 0.5 * fb[0, :3] / 3.0) * 0.4
    np.testing.assert_allclose(half[0, :3], want, rtol=1e-6)
