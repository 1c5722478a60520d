"""Clustering: three planted behaviour groups are found, named, and reproducible by seed."""

from datetime import date

import pytest

from careops.tags.cluster import cluster_patients
from careops.tags.errors import TagError
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)


@pytest.fixture(scope="module")
def con(module_duck):
    h = Hospital(AS_OF)
    for i in range(10):  # big spenders: many orders, recent
        u = f"spend{i}"
        h.patient(u, birth=date(1975, 1, 1))
        for d in range(1, 9):
            h.order(u, d, 500.0 + i)
    for i in range(10):  # dormant: one visit long ago
        u = f"dorm{i}"
        h.patient(u, birth=date(1975, 1, 1)).event(u, 200 + i)
    for i in range(10):  # engaged browsers: active every day, consult often, no spend
        u = f"busy{i}"
        h.patient(u, birth=date(1975, 1, 1))
        for d in range(1, 21):
            h.event(u, d, "share")
        for d in range(1, 7):
            h.consult(u, d * 2)
    h.load(module_duck)
    return module_duck


def test_planted_groups_are_found_and_named(con):
    result = cluster_patients(con, AS_OF, k_range=(2, 5), seed=1)
    assert result.k == 3
    assert result.silhouette > 0.5
    assert max(result.scores, key=result.scores.get) == 3
    sizes = sorted(c.size for c in result.clusters)
    assert sizes == [10, 10, 10]
    names = {c.name_zh for c in result.clusters}
    assert any("高消费" in n or "常购买" in n for n in names)
    assert any("沉睡" in n for n in names)
    assert any("热心分享" in n or "高频问诊" in n or "活跃" in n for n in names)
    assert all(c.traits for c in result.clusters)


def test_same_seed_same_clusters(con):
    a = cluster_patients(con, AS_OF, k_range=(2, 5), seed=7).to_dict()
    b = cluster_patients(con, AS_OF, k_range=(2, 5), seed=7).to_dict()
    assert a == b


def test_bad_k_range(con):
    with pytest.raises(TagError, match="k-min"):
        cluster_patients(con, AS_OF, k_range=(1, 3))


def test_names_never_double_a_word_nor_borrow_a_layer_label(con):
    from careops.tags.cluster import FEATURES, _overlap
    from careops.tags.registry import all_tags

    labels = {t.label_zh for t in all_tags()} | {zh for t in all_tags() for _, zh, _ in t.values}
    words = {w for high, low, _ in FEATURES.values() for w in (high, low)}
    assert not words & labels  # "高频问诊" named a cluster after an empty layer
    assert _overlap("近期活跃", "活跃") and not _overlap("高消费", "常购买")
    for seed in (0, 1, 2):
        for c in cluster_patients(con, AS_OF, k_range=(2, 5), seed=seed).clusters:
            body = c.name_zh.removesuffix("人群")
            assert all(body.count(body[i : i + 2]) == 1 for i in range(len(body) - 1)), c.name_zh


def test_over_represented_layers_have_a_lift_and_read_in_chinese(con):
    from careops.tags.cluster import MIN_LIFT, layers_text

    result = cluster_patients(con, AS_OF, k_range=(3, 3), seed=1)
    dormant = next(c for c in result.clusters if "沉睡" in c.name_zh)
    assert dormant.layers["lifecycle"] in ("silent", "churned")  # codes; the shell labels them
    assert all(lift >= MIN_LIFT for c in result.clusters for lift in c.lifts.values())
    assert set(dormant.lifts) == set(dormant.layers)
    word = {"silent": "沉默用户", "churned": "流失用户"}[dormant.layers["lifecycle"]]
    assert layers_text(dormant).startswith(f"生命周期 {word} ×")
    assert layers_text(dormant, "en").startswith("Lifecycle ")


def test_large_populations_choose_k_with_minibatch_and_keep_the_names(con, monkeypatch):
    """Above MINIBATCH_ABOVE fitted patients k is chosen with MiniBatchKMeans: the planted
    groups and their names must come out the same, and the same seed gives the same answer."""
    from careops.tags import cluster

    monkeypatch.setattr(cluster, "MINIBATCH_ABOVE", 10)
    a = cluster_patients(con, AS_OF, k_range=(2, 5), seed=1)
    assert a.k == 3 and sorted(c.size for c in a.clusters) == [10, 10, 10]
    names = {c.name_zh for c in a.clusters}
    assert any("沉睡" in n for n in names)
    assert any("高消费" in n or "常购买" in n for n in names)
    assert a.to_dict() == cluster_patients(con, AS_OF, k_range=(2, 5), seed=1).to_dict()
