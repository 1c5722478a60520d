"""Evaluation of rankers: the metrics on hand-worked rankings, the majority baseline, the blend
of two toy rankers, the shipped sets, and reading sets and catalogues (bad lines reported with
their number, the others used; hostile input never a traceback)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careops.errors import InvalidInput, NotFound
from careops.triage.evaluate import (
    RANKERS,
    EvalSet,
    LineProblem,
    Question,
    RankerContext,
    blend,
    cross_validate,
    evaluate,
    majority,
    make_ranker,
    parse_catalogue,
    parse_set,
    score,
    shipped_set,
)

A, B, C = "心血管内科", "呼吸内科", "消化内科"


def test_metrics_on_hand_worked_rankings():
    ranked = [
        [(A, 0.9), (B, 0.1), (C, 0.0)],  # truth A: top-1
        [(B, 0.6), (A, 0.3), (C, 0.1)],  # truth A: top-3 only
        [(C, 0.5), (A, 0.3), (B, 0.2)],  # truth B: top-3 (third)
        [(C, 0.7), (B, 0.2), (A, 0.1)],  # truth C: top-1
        [(A, 0.4), (B, 0.4), (C, 0.2)],  # truth C: third
    ]
    truth = [A, A, B, C, C]
    s = score(ranked, truth, [A, B, C])
    assert s["top1"] == 0.4 and s["top3"] == 1.0
    # recall A 1/2, B 0/1, C 1/2 → macro (0.5 + 0 + 0.5) / 3
    assert s["per_department"] == {
        A: {"n": 2, "recall": 0.5, "top3": 1.0},
        B: {"n": 1, "recall": 0.0, "top3": 1.0},
        C: {"n": 2, "recall": 0.5, "top3": 1.0},
    }
    assert s["macro_recall"] == round(1 / 3, 4)
    assert s["majority_share"] == 0.4
    assert s["confusion"] == {A: {A: 1, B: 1}, B: {C: 1}, C: {C: 1, A: 1}}
    with pytest.raises(ValueError):
        score(ranked[:2], truth, [A, B, C])


def _set(labels: Sequence[str], departments: Sequence[str] | None = None) -> EvalSet:
    qs = [Question(i + 1, f"问题{i}", d) for i, d in enumerate(labels)]
    return EvalSet(qs, list(departments or sorted(set(labels))))


def test_majority_scores_the_share_of_the_largest_department():
    data = _set([A] * 5 + [B] * 3 + [C] * 2, [C, B, A])
    rep = evaluate(majority(Counter(q.department for q in data.questions)), data, "majority")
    assert rep.top1 == 0.5 == rep.majority_share
    assert rep.top3 == 1.0
    assert rep.macro_recall == round(1 / 3, 4)
    assert rep.n == 10 and rep.throughput_qps > 0
    assert rep.confusion == {A: {A: 5}, B: {A: 3}, C: {A: 2}}


def _const(order: list[tuple[str, float]]):
    def rank(texts, departments):
        return [list(order) for _ in texts]

    return rank


def test_blend_of_two_toy_rankers_by_score():
    first = _const([(A, 0.8), (B, 0.6), (C, 0.0)])  # min-max: A 1, B 0.75, C 0
    second = _const([(C, 10.0), (B, 6.0), (A, 2.0)])  # min-max: C 1, B 0.5, A 0
    fused = blend(first, second, 0.5, "score")(["x"], [A, B, C])[0]
    # A 0.5, B 0.625, C 0.5 → B first, then A and C tied in catalogue order
    assert fused == [(B, 0.625), (A, 0.5), (C, 0.5)]
    heavy = blend(first, second, 0.8, "score")(["x"], [A, B, C])[0]
    assert heavy == [(A, 0.8), (B, 0.7), (C, 0.2)]
    assert [d for d, _ in blend(first, second, 1.0)(["x"], [A, B, C])[0]] == [A, B, C]
    assert [d for d, _ in blend(first, second, 0.0)(["x"], [A, B, C])[0]] == [C, B, A]


def test_blend_by_reciprocal_rank_and_with_a_department_left_out():
    first = _const([(A, 5.0), (B, 1.0)])  # leaves C out: C counts 0 from it
    second = _const([(C, 0.9), (A, 0.5), (B, 0.1)])
    out = blend(first, second, 0.5, "rank")(["x", "y"], [A, B, C])
    assert len(out) == 2
    a = 0.5 / 61 + 0.5 / 62
    b = 0.5 / 62 + 0.5 / 63
    c = 0.5 / 61
    assert out[0] == [(A, round(a, 6)), (B, round(b, 6)), (C, round(c, 6))]
    by_score = blend(first, second, 0.5, "score")(["x"], [A, B, C])[0]
    assert by_score == [(A, 0.75), (C, 0.5), (B, 0.0)]


@pytest.mark.parametrize(("weight", "method"), [(-0.1, "score"), (1.5, "rank"), (0.5, "mean")])
def test_blend_settings_out_of_range_are_refused(weight, method):
    with pytest.raises(InvalidInput):
        blend(_const([]), _const([]), weight, method)


def test_registry_and_unknown_ranker():
    assert {"majority", "supervised", "zero_shot", "blend"} <= set(RANKERS)
    with pytest.raises(InvalidInput, match="未知的排序器"):
        make_ranker("oracle", RankerContext())


# -- the shipped sets -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("name", "n_min", "depts_min", "share"),
    [("general", 300, 15, 23 / 309), ("internal_medicine", 300, 9, 66 / 312)],
)
def test_shipped_sets_are_as_described(name, n_min, depts_min, share):
    data = shipped_set(name)
    assert data.problems == []
    assert len(data.questions) >= n_min and len(data.departments) >= depts_min
    counts = Counter(q.department for q in data.questions)
    assert set(counts) == set(data.departments)  # every department has questions
    assert max(counts.values()) / len(data.questions) == pytest.approx(share)
    texts = [q.text for q in data.questions]
    assert len(set(texts)) == len(texts)


def test_the_internal_medicine_catalogue_is_internal_medicine_only():
    cat = shipped_set("internal_medicine").departments
    assert {"心血管内科", "呼吸内科", "消化内科", "内分泌科", "肾内科", "神经内科"} <= set(cat)
    assert {"血液科", "风湿免疫科", "感染科"} <= set(cat)
    assert not {"儿科", "骨科", "妇科", "皮肤科"} & set(cat)
    with pytest.raises(NotFound):
        shipped_set("../etc")


def _half(data: EvalSet) -> EvalSet:
    """Every second question (keeps the cross-validation tests quick on 2 busy cores)."""
    return EvalSet(data.questions[::2], data.departments)


def test_cross_validation_is_deterministic_and_beats_the_majority():
    data = _half(shipped_set("internal_medicine"))
    cv = cross_validate(data, folds=3, seed=0)
    assert cv == cross_validate(data, folds=3, seed=0)
    assert cv["n"] == len(data.questions)
    assert cv["top1"] > 2 * cv["majority_share"]
    assert cv["top3"] > cv["top1"]


# -- reading -----------------------------------------------------------------------------------
def test_bad_lines_are_reported_with_their_number_and_the_others_used():
    text = "\n".join(
        [
            json.dumps({"text": "胃疼", "department": C}, ensure_ascii=False),
            "{not json",
            json.dumps(["a list"]),
            json.dumps({"text": "", "department": C}, ensure_ascii=False),
            json.dumps({"text": "咳嗽", "department": "牙科"}, ensure_ascii=False),
            "",
            json.dumps({"text": "咳嗽", "department": 3}),
            json.dumps({"text": "咳嗽", "department": f" {B} "}, ensure_ascii=False),
        ]
    )
    data = parse_set(text, [A, B, C])
    assert [(q.line, q.department) for q in data.questions] == [(1, C), (8, B)]
    assert [p.line for p in data.problems] == [2, 3, 4, 5, 7]
    reasons = {p.line: p.reason for p in data.problems}
    assert "JSON" in reasons[2] and "对象" in reasons[3] and "文本" in reasons[4]
    assert "不在目录" in reasons[5] and "牙科" in reasons[5] and "科室" in reasons[7]
    assert all(isinstance(p, LineProblem) for p in data.problems)


def test_without_a_catalogue_the_sets_own_labels():
    data = parse_set('{"text": "a", "department": "乙"}\n{"text": "b", "department": "甲"}\n')
    assert data.departments == ["乙", "甲"] or data.departments == sorted(["乙", "甲"])


@pytest.mark.parametrize("text", ["", "\n\n  \n"])
def test_an_empty_set_is_refused(text):
    with pytest.raises(InvalidInput, match="评估集为空"):
        parse_set(text)


def test_a_set_with_no_usable_line_is_refused_naming_the_first_problem():
    with pytest.raises(InvalidInput, match="第 1 行"):
        parse_set("{oops\n[1]\n")


def test_catalogue_with_descriptions_duplicates_and_empty():
    assert parse_catalogue("心内科\t心脏, 血压\n\n 呼吸科 \n") == ["心内科", "呼吸科"]
    with pytest.raises(InvalidInput, match="第 3 行"):
        parse_catalogue("心内科\n呼吸科\n心内科\t重复\n")
    with pytest.raises(InvalidInput, match="科室目录为空"):
        parse_catalogue("\n \t描述\n")
    assert parse_catalogue("全科\n") == ["全科"]


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=400), st.lists(st.text(max_size=20), max_size=5))
def test_fuzz_reading_never_raises_anything_but_invalid_input(text, catalogue):
    try:
        cat = parse_catalogue("\n".join(catalogue))
    except InvalidInput:
        cat = None
    try:
        data = parse_set(text, cat)
    except InvalidInput:
        return
    assert data.questions
    rep = evaluate(majority(Counter(q.department for q in data.questions)), data)
    assert 0 <= rep.top1 <= rep.top3 <= 1


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.fixed_dictionaries(
            {"text": st.text(min_size=1, max_size=30), "department": st.sampled_from([A, B, C])}
        ),
        min_size=1,
        max_size=30,
    )
)
def test_fuzz_well_formed_sets_score_consistently(rows):
    text = "\n".join(json.dumps(r, ensure_ascii=False) for r in rows)
    usable = [r for r in rows if r["text"].strip()]
    if not usable:
        with pytest.raises(InvalidInput, match="没有可用的行"):
            parse_set(text, [A, B, C])
        return
    data = parse_set(text, [A, B, C])
    assert len(data.questions) == len(usable)
    rep = evaluate(_const([(A, 0.5), (B, 0.3), (C, 0.2)]), data)
    assert rep.top3 == 1.0
    assert rep.top1 == pytest.approx(
        round(sum(r["department"] == A for r in usable) / len(usable), 4)
    )


def test_cross_validated_blend_with_an_oracle_and_bad_fold_counts():
    data = _half(shipped_set("internal_medicine"))
    truth = {q.text: q.department for q in data.questions}

    def oracle(texts, departments):
        return [[(truth[t], 1.0)] + [(d, 0.0) for d in departments if d != truth[t]] for t in texts]

    plain = cross_validate(data, folds=2)
    assert cross_validate(data, folds=2, other=oracle, weight=1.0)["top1"] == plain["top1"]
    only_oracle = cross_validate(data, folds=2, other=oracle, weight=0.0)
    assert only_oracle["top1"] == 1.0 and only_oracle["blend"] == {"weight": 0.0, "method": "score"}
    for folds in (1, 21):
        with pytest.raises(InvalidInput, match="交叉验证"):
            cross_validate(data, folds=folds)
    with pytest.raises(InvalidInput, match="交叉验证"):
        cross_validate(_set([A, A, B]), folds=3)
