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
