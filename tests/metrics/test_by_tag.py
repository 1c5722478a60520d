"""A metric broken down by any category tag: the layers come from the tag engine."""

import datetime as dt

import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.labels import group_label
from careops.metrics.breakdown import UNKNOWN
from careops.metrics.compute import compute
from careops.metrics.errors import BreakdownError
from careops.sim import SimConfig, simulate, table_paths
from careops.tags.compute import tag_frame


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    root = tmp_path_factory.mktemp("bytag")
    cfg = SimConfig(users=400, days=120, seed=11, start=dt.date(2025, 1, 1))
    simulate(cfg, root / "sim")
    con = connect(f"duckdb:///{root / 'w.duckdb'}")
    create_tables(con)
    ingest_paths(con, table_paths(root / "sim"), settings=get_settings())
    return con, cfg.end


def test_by_lifecycle_groups_add_up_to_the_total(hospital):
    con, as_of = hospital
    result = compute(con, "paid_conversion", as_of, by="lifecycle")
    lifecycle = tag_frame(con, as_of, ["lifecycle"]).to_pyarrow()
    assert {g.group for g in result.groups} <= set(lifecycle["lifecycle"].to_pylist())
    assert sum(g.numerator for g in result.groups) == pytest.approx(result.numerator)
    assert sum(g.denominator for g in result.groups) == pytest.approx(result.denominator)


def test_unknown_breakdown_suggests_the_tag(hospital):
    con, as_of = hospital
    with pytest.raises(BreakdownError, match="did you mean 'lifecycle'"):
        compute(con, "paid_conversion", as_of, by="lifecyle")


def test_missing_table_is_a_clear_cli_error(run_cli, tmp_path):
    # metrics only read: a warehouse that does not exist is not created, and says so
    url = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    code, _, err = run_cli("metrics", "paid_conversion", "--as-of", "2025-01-01", "-w", url)
    assert "does not exist" in err and not (tmp_path / "empty.duckdb").exists()
    from careops.warehouse import warehouse

    with warehouse(url):  # an existing warehouse without the canonical tables
        pass
    code, _, err = run_cli("metrics", "paid_conversion", "--as-of", "2025-01-01", "-w", url)
    assert code == 2 and "the warehouse has no table patients" in err


@pytest.mark.parametrize(
    ("by", "code", "lang", "label"),
    [
        ("lifecycle", "silent", "zh", "沉默用户"),
        ("lifecycle", "occasional", "en", "Occasional"),
        ("sex", "F", "zh", "女"),
        ("channel", "wechat", "zh", "微信"),  # channel codes read as labels
        ("channel", "zz_custom", "zh", "zz_custom"),  # a hospital's own channel: its code
        ("lifecycle", UNKNOWN, "zh", "未知"),
        (None, None, "en", "unknown"),
    ],
)
def test_group_labels_are_what_people_read(by, code, lang, label):
    assert group_label(by, code, lang) == label
