"""Smart tags: a model's stored scores become tags as of a day, never from a later day."""

from __future__ import annotations

from datetime import date

import ibis
import pyarrow as pa
import pytest

from careops.errors import InvalidInput
from careops.tags.compute import compute_tags
from careops.tags.smart import scored_days, store_scores, table_name
from tests.tags.hospital import Hospital

DAY = date(2026, 6, 1)


def _churn(users, scores, reasons=None, drivers=None):
    return pa.table(
        {
            "user_id": users,
            "churn_score": pa.array(scores, pa.int16()),
            "churn_reasons": reasons or ["14 天未打开应用"] * len(users),
            "churn_driver": drivers or ["unknown"] * len(users),
            "churn_probability": [s / 100 for s in scores],  # extra columns are ignored
        }
    )


@pytest.fixture
def hospital(duck):
    h = Hospital(DAY)
    h.patient("a").event("a", 1).patient("b").event("b", 40).patient("c").event("c", 3)
    h.load(duck)
    return duck


def _tags(con, day, names=("churn_score", "churn_reasons", "churn_scored_as_of")):
    rows = compute_tags(con, day, list(names)).to_pylist()
    return {r["user_id"]: r for r in rows}


def test_no_scores_means_null_tags_not_an_error(hospital):
    got = _tags(hospital, DAY, ("churn_score", "predicted_ltv", "next_need", "lifecycle"))
    assert {u: r["churn_score"] for u, r in got.items()} == {"a": None, "b": None, "c": None}
    assert all(r["lifecycle"] for r in got.values())


def test_the_latest_scores_not_after_the_day_and_not_too_old(hospital):
    store_scores(hospital, "churn", date(2026, 5, 20), _churn(["a", "b"], [5, 60]))
    store_scores(hospital, "churn", date(2026, 5, 28), _churn(["a", "b"], [10, 90]))
    store_scores(hospital, "churn", date(2026, 6, 3), _churn(["a", "b"], [99, 99]))  # later
    got = _tags(hospital, DAY)
    assert got["a"]["churn_score"] == 10 and got["b"]["churn_score"] == 90
    assert got["c"]["churn_score"] is None  # not scored: null, still a row
    assert got["b"]["churn_scored_as_of"] == date(2026, 5, 28)
    assert got["b"]["churn_reasons"] == "14 天未打开应用"
    # as of 2026-05-25, the 05-28 scores are in the future: the 05-20 ones are used
    assert _tags(hospital, date(2026, 5, 25))["b"]["churn_score"] == 60
    assert scored_days(hospital, "churn") == [
        date(2026, 5, 20),
        date(2026, 5, 28),
        date(2026, 6, 3),
    ]


def test_scores_older_than_the_setting_are_not_used(hospital, monkeypatch):
    from careops.config import get_settings

    store_scores(hospital, "churn", date(2026, 5, 1), _churn(["a"], [70]))
    assert _tags(hospital, DAY)["a"]["churn_score"] is None  # 31 days > 7
    settings = get_settings().model_copy(deep=True)
    settings.tags.smart_max_age_days = 60
    rows = compute_tags(hospital, DAY, ["churn_score"], settings=settings).to_pylist()
    assert {r["user_id"]: r["churn_score"] for r in rows}["a"] == 70


def test_storing_a_day_again_replaces_it(hospital):
    store_scores(hospital, "churn", DAY, _churn(["a", "b"], [10, 20]))
    store_scores(hospital, "churn", DAY, _churn(["a"], [30]))
    got = _tags(hospital, DAY)
    assert got["a"]["churn_score"] == 30 and got["b"]["churn_score"] is None
    assert hospital.table(table_name("churn", DAY)).count().execute() == 1


def test_a_segment_rule_can_use_a_smart_tag(hospital):
    from careops.segments.evaluate import count, sample

    store_scores(hospital, "churn", DAY, _churn(["a", "b", "c"], [10, 85, 95]))
    assert count(hospital, "churn_score >= 80", DAY) == 2
    rows = sample(hospital, 'churn_score >= 90 and churn_reasons contains "应用"', DAY)
    assert [r["user_id"] for r in rows] == ["c"]


def test_the_churn_driver_tag_and_scores_stored_before_it(hospital):
    from careops.segments.evaluate import count
    from careops.warehouse.store import replace_table

    drivers = ["service", "new_user", "service"]
    store_scores(hospital, "churn", DAY, _churn(["a", "b", "c"], [10, 85, 95], drivers=drivers))
    assert count(hospital, 'churn_driver == "service" and churn_score >= 80', DAY) == 1
    got = _tags(hospital, DAY, ("churn_driver",))
    assert {u: r["churn_driver"] for u, r in got.items()} == dict(zip("abc", drivers, strict=True))
    # a table stored by an older CareOps (no churn_driver column): the tag is null, no error
    old = _churn(["a"], [40]).select(["user_id", "churn_score", "churn_reasons"])
    replace_table(hospital, table_name("churn", DAY), ibis.memtable(old))
    got = _tags(hospital, DAY, ("churn_score", "churn_driver"))
    assert got["a"]["churn_score"] == 40 and got["a"]["churn_driver"] is None


def test_bad_scores_are_refused_naming_what_is_wrong(hospital):
    with pytest.raises(InvalidInput, match="unknown smart-tag kind"):
        store_scores(hospital, "fortune", DAY, _churn(["a"], [1]))
    with pytest.raises(InvalidInput, match="churn_reasons"):
        store_scores(hospital, "churn", DAY, pa.table({"user_id": ["a"], "churn_score": [1]}))
