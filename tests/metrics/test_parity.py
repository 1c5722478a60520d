"""Parity: a synthetic hospital gives the same numbers, per channel, on every backend.

The reference is DuckDB; PostgreSQL and Spark must agree to 9 significant digits on every
group of every metric below (breakdowns, funnels and cohort tables included).
"""

from __future__ import annotations

import importlib.util
from datetime import UTC, date, datetime
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from careops.metrics import compute
from careops.metrics.result import CohortResult, FunnelResult, MetricResult
from tests.conftest import fill
from tests.metrics.conftest import open_warehouse

AS_OF = date(2026, 6, 1)
METRICS = (
    "new_users",
    "cac",
    "consult_rate",
    "booking_rate",
    "paid_conversion",
    "arpu",
    "mau",
    "monthly_active_days",
    "d1_retention",
    "d7_retention",
    "repurchase_rate",
    "silent_recall_rate",
    "share_rate",
    "k_factor",
    "ltv",
    "roi",
    "nps",
    "first_reply_sla_rate",
    "adherence_rate",
    "bp_control_rate",
    "glucose_control_rate",
    "package_activation_rate",
    "funnel",
    "cohort_retention",
)
#: Spark is slow on tiny data (seconds per query); it checks every metric on the hand-built
#: hospital already, so here it runs one metric of each shape (user flag, per-user sum,
#: invite join, attributed cost, window function, funnel, cohort) per channel.
SPARK_METRICS = (
    "d7_retention",
    "arpu",
    "k_factor",
    "roi",
    "adherence_rate",
    "funnel",
    "cohort_retention",
)


def _synth():
    path = Path(__file__).parents[2] / "benchmarks" / "synth_hospital.py"
    spec = importlib.util.spec_from_file_location("synth_hospital", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    out = tmp_path_factory.mktemp("synth")
    _synth().generate(out, 400, 30_000, end=datetime(2026, 6, 1, tzinfo=UTC), seed=3)
    return {d.name: pq.read_table(d) for d in out.iterdir() if d.is_dir()}


def snapshot(con, names: tuple[str, ...] = METRICS) -> dict:
    out = {}
    for name in names:
        r = compute(con, name, AS_OF, by="channel")
        if isinstance(r, MetricResult):
            out[name] = {g.group: (g.value, g.numerator, g.denominator) for g in r.groups}
            out[name]["*"] = (r.value, r.numerator, r.denominator)
        elif isinstance(r, FunnelResult):
            out[name] = {g: [s.users for s in steps] for g, steps in r.groups.items()}
            out[name]["*"] = [s.users for s in r.steps]
        else:
            assert isinstance(r, CohortResult)
            out[name] = {(str(x.cohort), x.group): (x.size, x.retained) for x in r.rows}
    return out


@pytest.fixture(scope="module")
def reference(synthetic, request, tmp_path_factory):
    con, cleanup = open_warehouse("duckdb", request, tmp_path_factory)
    fill(con, synthetic)
    snap = snapshot(con)
    cleanup()
    return snap


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param("postgres", marks=pytest.mark.postgres),
        pytest.param("spark", marks=[pytest.mark.spark, pytest.mark.slow]),
    ],
)
def test_backends_agree_with_duckdb(kind, synthetic, reference, request, tmp_path_factory):
    con, cleanup = open_warehouse(kind, request, tmp_path_factory)
    try:
        fill(con, synthetic)
        names = SPARK_METRICS if kind == "spark" else METRICS
        got = snapshot(con, names)
    finally:
        cleanup()
    assert reference["mau"]["*"][0] > 50  # the data set is not trivially empty
    for name in names:
        assert got[name].keys() == reference[name].keys(), name
        for key, want in reference[name].items():
            assert same(got[name][key], want), (name, key, got[name][key], want)


def same(a, b) -> bool:
    """Equal, with floats to 1e-9 relative and None only equal to None."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if a is None or b is None:
        return a is b
    return a == pytest.approx(b, rel=1e-9)
