"""Experiment definitions: validation with clear errors, round trip to the persisted form."""

from datetime import UTC, datetime, timedelta, timezone

import pytest

from careops.errors import ConfigError
from careops.experiments.definition import ExperimentDefinition, Variant

AB = (Variant("control", 0.5), Variant("coupon", 0.5))


def make(**overrides):
    fields = {"key": "renewal-coupon", "variants": AB, "primary_metrics": ("renewal_rate",)}
    fields.update(overrides)
    return ExperimentDefinition(**fields)


def test_defaults_and_round_trip():
    d = make(
        guardrail_metrics=("complaint_rate",),
        segment="chronic",
        start=datetime(2026, 1, 1, 8, tzinfo=timezone(timedelta(hours=8))),
        end="2026-02-01T00:00:00+00:00",
        name="续费优惠券",
    )
    assert d.control == "control"
    assert d.start == datetime(2026, 1, 1, 0, tzinfo=UTC)
    assert d.weights == {"control": 0.5, "coupon": 0.5}
    assert ExperimentDefinition.from_dict(d.to_dict()) == d
    assert d.is_running(datetime(2026, 1, 15, tzinfo=UTC))
    assert not d.is_running(datetime(2026, 2, 1, tzinfo=UTC))


def test_from_dict_accepts_a_weight_map():
    d = ExperimentDefinition.from_dict(
        {"key": "x1", "variants": {"a": 0.2, "b": 0.3, "c": 0.5}, "primary_metrics": ["m"]}
    )
    assert [v.name for v in d.variants] == ["a", "b", "c"]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"variants": (Variant("a", 0.5), Variant("b", 0.4))}, "sum to 0.9, not 1"),
        ({"variants": (Variant("a", 1.0),)}, "at least 2 variants"),
        ({"variants": (Variant("a", 0.5), Variant("a", 0.5))}, "repeat: a"),
        ({"variants": (Variant("a", 1.2), Variant("b", -0.2))}, "variant 'a' has weight 1.2"),
        ({"control": "treatment"}, "control 'treatment' is not a variant"),
        ({"key": "Renewal Coupon"}, "key 'Renewal Coupon' is not valid"),
        ({"primary_metrics": ()}, "at least one primary metric"),
        ({"guardrail_metrics": ("renewal_rate",)}, "both primary and guardrail"),
        ({"start": datetime(2026, 1, 1)}, "no timezone"),
        ({"start": "2026-02-01T00:00+00:00", "end": "2026-01-01T00:00+00:00"}, "not after start"),
        ({"start": "yesterday"}, "not an ISO date-time"),
    ],
)
def test_bad_definitions_are_refused_with_the_reason(overrides, message):
    with pytest.raises(ConfigError, match=message):
        make(**overrides)


def test_unknown_metric_is_named():
    d = make(guardrail_metrics=("complaint_rate",))
    d.check_metrics({"renewal_rate", "complaint_rate"})
    with pytest.raises(ConfigError, match="unknown metric 'complaint_rate'"):
        d.check_metrics({"renewal_rate"})
