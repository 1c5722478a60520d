"""Experiment definitions: validation with clear errors, round trip to the persisted form."""

from datetime import UTC, date, datetime, timedelta, timezone

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
        ({"start": 20260105}, r"start 20260105 \(int\) is not a date or date-time"),
        ({"end": "next week"}, "end 'next week' is not a date or date-time"),
        ({"segment": ["a"]}, "segment .* must be a saved segment's name or a rule"),
        ({"start": "2026-02-01T00:00+00:00", "end": "2026-01-01T00:00+00:00"}, "not after start"),
        ({"start": "yesterday"}, "start 'yesterday' is not a date or date-time; write 2026-01-05"),
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


SHANGHAI = timezone(timedelta(hours=8))


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (date(2026, 1, 5), datetime(2026, 1, 5, tzinfo=SHANGHAI)),  # YAML `start: 2026-01-05`
        ("2026-01-05", datetime(2026, 1, 5, tzinfo=SHANGHAI)),
        ("2026-01-05 08:30", datetime(2026, 1, 5, 8, 30, tzinfo=SHANGHAI)),
        (datetime(2026, 1, 5, 8, 30), datetime(2026, 1, 5, 8, 30, tzinfo=SHANGHAI)),
        ("2026-01-05T00:00:00+00:00", datetime(2026, 1, 5, tzinfo=UTC)),
        (datetime(2026, 1, 5, tzinfo=UTC), datetime(2026, 1, 5, tzinfo=UTC)),
    ],
)
def test_dates_and_naive_times_are_hospital_time(given, expected):
    d = make(start=given)
    assert d.start == expected and d.start.tzinfo is UTC
    assert d.start.isoformat() == expected.astimezone(UTC).isoformat()


def test_hospital_timezone_comes_from_the_settings(monkeypatch):
    from careops.config import get_settings

    monkeypatch.setenv("CAREOPS_TIMEZONE", "Europe/London")
    get_settings.cache_clear()
    assert make(start=date(2026, 7, 1)).start == datetime(2026, 6, 30, 23, tzinfo=UTC)


def test_yaml_dates_are_read(tmp_path):
    import yaml

    text = """
key: recall
variants: {control: 0.5, coupon: 0.5}
primary_metrics: arpu
start: 2026-01-05
end: 2026-02-02 12:00
"""
    d = ExperimentDefinition.from_dict(yaml.safe_load(text))
    assert d.start == datetime(2026, 1, 4, 16, tzinfo=UTC)
    assert d.end == datetime(2026, 2, 2, 4, tzinfo=UTC)
    assert d.primary_metrics == ("arpu",)


def test_unknown_fields_and_bad_metric_lists_are_named():
    base = {"key": "x1", "variants": {"a": 0.5, "b": 0.5}, "primary_metrics": ["m"]}
    with pytest.raises(ConfigError, match="unknown field primary; fields are key, name"):
        ExperimentDefinition.from_dict({**base, "primary": ["m"]})
    with pytest.raises(ConfigError, match="primary_metrics must be a list of metric keys"):
        ExperimentDefinition.from_dict({**base, "primary_metrics": 5})
