"""Exposure rows: one per user, variants from assignment, no global-control users."""

from datetime import UTC, datetime

import pytest

from careops.errors import ConfigError, InputError
from careops.experiments.assign import assign, in_global_control
from careops.experiments.definition import ExperimentDefinition, Variant
from careops.experiments.exposure import EXPOSURE_SCHEMA, exposure_table

EXP = ExperimentDefinition(
    "night-reminder",
    (Variant("control", 0.5), Variant("20h", 0.5)),
    ("message_click_rate",),
    start="2026-03-01T00:00:00+00:00",
    end="2026-04-01T00:00:00+00:00",
)
AT = datetime(2026, 3, 5, 12, tzinfo=UTC)
IDS = [f"U{i}" for i in range(2000)]


def test_rows_follow_assignment_and_skip_the_global_control():
    t = exposure_table(EXP, [*IDS, "U1", "U2"], AT, global_control_pct=0.05)
    assert t.schema == EXPOSURE_SCHEMA
    held = in_global_control(IDS, 0.05)
    assert t.num_rows == len(IDS) - held.sum()  # duplicates once, held-out users never
    expected = dict(zip(IDS, assign(IDS, EXP, global_control_pct=0.05).to_pylist(), strict=True))
    assert all(
        expected[u] == v
        for u, v in zip(t["user_id"].to_pylist(), t["variant"].to_pylist(), strict=True)
    )
    assert set(t["experiment_key"].to_pylist()) == {"night-reminder"}


def test_outside_the_window_or_bad_ids_are_refused():
    with pytest.raises(ConfigError, match="not running"):
        exposure_table(EXP, IDS, datetime(2026, 4, 2, tzinfo=UTC))
    with pytest.raises(ConfigError, match="no timezone"):
        exposure_table(EXP, IDS, datetime(2026, 3, 2))
    with pytest.raises(InputError, match="position 1 is empty"):
        exposure_table(EXP, ["U1", ""], AT)
    with pytest.raises(InputError, match="position 2 is empty"):
        exposure_table(EXP, ["U1", "U2", None], AT)
