"""`Metric.per_user` is right: a per-user metric gives each user at most one row with den 1."""

from __future__ import annotations

import pytest

from careops.metrics.context import MetricContext
from careops.metrics.registry import all_metrics
from careops.warehouse import connect, create_tables
from tests.conftest import fill
from tests.metrics import hospital

AS_OFS = [v for k, v in vars(hospital).items() if k.startswith("AS_OF_")]


@pytest.fixture(scope="module")
def con(tmp_path_factory):
    wh = connect(f"duckdb:///{tmp_path_factory.mktemp('units') / 'h.duckdb'}")
    create_tables(wh)
    fill(wh, hospital.tables())
    return wh


@pytest.mark.parametrize(
    "metric",
    [m for m in all_metrics() if m.kind != "analysis" and m.per_user],
    ids=lambda m: m.name,
)
def test_per_user_metrics_have_one_row_and_den_one_per_user(con, metric):
    seen = 0
    for as_of in AS_OFS:
        u = metric.units(MetricContext(con, as_of), **metric.params)
        per = u.group_by("user_id").aggregate(rows=u.count(), den=u.den.cast("float64").sum())
        stats = (
            per.aggregate(
                users=per.count(), most=per.rows.max(), low=per.den.min(), high=per.den.max()
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        if not stats["users"]:
            continue
        seen += 1
        assert stats["most"] == 1, (metric.name, as_of)
        assert stats["low"] == stats["high"] == 1, (metric.name, as_of)
        if seen == 2:
            break
    assert seen, f"{metric.name}: the hand-built hospital never produces a unit"
