"""Bad input gets a clear CareOpsError naming the field and the reason."""

from __future__ import annotations

from datetime import date, timedelta

import ibis
import pytest

from careops.errors import CareOpsError
from careops.metrics import (
    AsOfError,
    BreakdownError,
    MetricError,
    UnknownMetricError,
    compute,
    get_metric,
)
from tests.conftest import fill
from tests.metrics import hospital as h
from tests.metrics.conftest import open_warehouse


@pytest.fixture(scope="module")
def wh(request, tmp_path_factory):
    con, cleanup = open_warehouse("duckdb", request, tmp_path_factory)
    fill(con, h.tables())
    yield con
    cleanup()


def test_unknown_metric_names_the_closest(wh):
    with pytest.raises(UnknownMetricError, match="did you mean 'd7_retention'"):
        compute(wh, "d7_retension", h.AS_OF_RETENTION)
    with pytest.raises(UnknownMetricError, match="did you mean 'k_factor'"):
        get_metric("kfactor")
    assert issubclass(UnknownMetricError, CareOpsError)


def test_as_of_in_the_future(wh):
    future = date.today() + timedelta(days=30)
    with pytest.raises(AsOfError, match=f"as_of {future} is in the future"):
        compute(wh, "mau", future)


def test_as_of_before_any_data(wh):
    with pytest.raises(
        AsOfError, match=f"before any data: the first registration is on {h.FIRST_REGISTRATION}"
    ):
        compute(wh, "mau", h.FIRST_REGISTRATION)
    # the day after the first registration is fine
    assert compute(wh, "mau", h.FIRST_REGISTRATION + timedelta(days=1)).value == 0


def test_empty_warehouse(make_warehouse):
    with pytest.raises(AsOfError, match="no patients yet"):
        compute(make_warehouse("duckdb"), "mau", date(2025, 1, 1))


def test_by_column_that_does_not_exist(wh):
    with pytest.raises(
        BreakdownError, match="no column or tag called 'chanel'; did you mean 'channel'"
    ):
        compute(wh, "mau", h.AS_OF_RETENTION, by="chanel")
    with pytest.raises(BreakdownError, match="exactly one group column"):
        compute(wh, "mau", h.AS_OF_RETENTION, by=ibis.memtable({"user_id": ["a1"]}))


def test_bad_parameters(wh):
    with pytest.raises(MetricError, match="unknown parameter"):
        compute(wh, "mau", h.AS_OF_RETENTION, steps="register,pay")
    with pytest.raises(MetricError, match="unknown step 'paid'"):
        compute(wh, "funnel", h.AS_OF_CONVERSION, steps="register,paid")
    with pytest.raises(MetricError, match="at least two steps"):
        compute(wh, "funnel", h.AS_OF_CONVERSION, steps="register")
    with pytest.raises(MetricError, match="must be one of week, month"):
        compute(wh, "cohort_retention", h.AS_OF_RETENTION, grain="day")


def test_breakdown_by_any_per_user_table(wh):
    """Layers from the tags package plug in as a (user_id, group) table."""
    layers = ibis.memtable({"user_id": ["a1", "a2", "a3"], "lifecycle": ["active", "new", "new"]})
    r = compute(wh, "d7_retention", h.AS_OF_RETENTION, by=layers)
    assert r.by == "lifecycle"
    assert {g.group: (g.numerator, g.denominator) for g in r.groups} == {
        "active": (1, 1),
        "new": (1, 2),
        "(unknown)": (0, 1),
    }


def test_age_band_breakdown_and_english_labels(wh):
    from careops.metrics.format import result_label

    r = compute(wh, "d30_retention", h.AS_OF_RETENTION, by="age_band")
    assert result_label(r, "en") == "D30 retention"
    assert {g.group: g.value for g in r.groups} == {"0-14": 0.0, "60+": 1.0}


def test_event_steps_in_funnels(wh):
    # without the consult step p3 (search 05-12 09:00, paid 13:00) converts too
    r = compute(wh, "funnel", h.AS_OF_CONVERSION, steps="register,event:search,pay")
    assert [s.users for s in r.steps] == [5, 3, 3]
    from careops.metrics.format import step_label

    assert r.steps[1].step == "event:search" and step_label(r.steps[1].step, "zh") == "search"
