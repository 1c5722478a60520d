"""Next needs on literal inputs: mined association rules worked by hand (and unchanged by facts
after the as-of date), written rules firing, expiring and being met, the rule file refused with
line and field, and the tag table and CLI on a literal warehouse."""

from __future__ import annotations

import contextlib
import datetime as dt
import json

import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.config import get_settings
from careops.errors import ConfigError, NotFound
from careops.models.nextneed import mine, service
from careops.models.nextneed.rules import load_rules, parse
from careops.service import Ops
from careops.sim.world import build_world
from tests.conftest import fill

UTC = dt.UTC
AS_OF = dt.date(2025, 7, 1)


def t(month: int, day: int, year: int = 2025) -> dt.datetime:
    return dt.datetime(year, month, day, 4, 0, tzinfo=UTC)


ORDERS = [  # (user, sku, ts, status)
    ("P1", "DEV-GLU", t(2, 1), "paid"),
    ("P1", "PKG-DM90", t(3, 1), "paid"),  # within 90 days of DEV-GLU: A -> B
    ("P1", "DEV-BP", t(3, 2), "failed"),  # not paid: no fact
    ("P2", "DEV-GLU", t(2, 10), "paid"),
    ("P2", "PKG-DM90", t(6, 20), "paid"),  # 130 days later: outside the window
    ("P3", "DEV-GLU", t(3, 1), "paid"),
    ("P4", "PKG-DM90", t(1, 15), "paid"),
    ("P5", "DEV-GLU", t(5, 1), "paid"),  # after the observed-window limit (2025-04-02)
    ("P5", "PKG-DM90", t(5, 10), "paid"),
    ("P6", "CHK-BASIC", t(2, 1), "paid"),
]
LATER = [("P3", "PKG-DM90", t(7, 5), "paid"), ("P6", "DEV-GLU", t(7, 2), "paid")]


def _orders(rows) -> pa.Table:
    return pa.table(
        {
            "order_id": [f"O{i}-{r[0]}-{r[2].isoformat()}" for i, r in enumerate(rows)],
            "user_id": [r[0] for r in rows],
            "ts": [r[2] for r in rows],
            "category": ["device"] * len(rows),
            "sku": [r[1] for r in rows],
            "amount_cny": [1.0] * len(rows),
            "status": [r[3] for r in rows],
        }
    )


def _loose():
    s = get_settings()
    s.models.nextneed_min_users = 1
    s.models.nextneed_min_confidence = 0.1
    s.models.nextneed_min_lift = 0.1
    return s


@pytest.fixture
def literal(make_warehouse, tmp_path):
    con = make_warehouse("duckdb")
    world = build_world(0)
    fill(
        con,
        {
            "patients": pa.table(
                {
                    "user_id": [f"P{i}" for i in range(1, 7)],
                    "registered_at": [t(1, 1)] * 6,
                    "sex": ["F"] * 6,
                }
            ),
            "orders": _orders(ORDERS),
            "catalogue": world.catalogue,
        },
    )
    return con


def test_mined_rules_by_hand(literal):
    """DEV-GLU → PKG-DM90: of the 3 patients with DEV-GLU before 2025-04-02 (P1, P2, P3; P5's
    is later), only P1 bought the package within 90 days: confidence 1/3; P(package) = 4/6
    (P1, P2, P4, P5 of 6 with any fact); lift 0.5; support 1/5 (5 patients with a fact before
    the limit). No other pair has a patient."""
    rules, stats = mine.mine(literal, AS_OF, _loose())
    assert stats == {"patients": 6, "patients_observed_window": 5, "window_days": 90}
    assert [r.to_dict() for r in rules] == [
        {
            "antecedent": "order:DEV-GLU",
            "consequent": "order:PKG-DM90",
            "users": 1,
            "support": 0.2,
            "confidence": pytest.approx(1 / 3, abs=1e-6),
            "lift": 0.5,
        }
    ]


def test_facts_after_the_date_change_nothing(literal):
    before = mine.mine(literal, AS_OF, _loose())
    fill(literal, {"orders": _orders(LATER)})
    assert mine.mine(literal, AS_OF, _loose()) == before
    rules, _ = mine.mine(literal, dt.date(2025, 7, 10), _loose())
    assert rules != before[0]  # the later facts do count from their date on


def test_thresholds_filter(literal):
    s = _loose()
    s.models.nextneed_min_lift = 0.6
    assert mine.mine(literal, AS_OF, s)[0] == []
    s = _loose()
    s.models.nextneed_min_users = 2
    assert mine.mine(literal, AS_OF, s)[0] == []


CUT = dt.datetime(2025, 6, 30, 16, 0, tzinfo=UTC)  # 2025-07-01 00:00 Asia/Shanghai
NAMES = {"DRUG-TCM-LHQW": "连花清瘟胶囊", "DEV-GLU": "血糖仪套装", "PKG-DM90": "糖尿病3个月管理包"}


def _needs(facts, mined=()):
    return mine.needs_for(facts, CUT, load_rules(), list(mined), 90, NAMES)


def test_written_rules_fire_expire_and_are_met():
    cold = [("order:DRUG-TCM-LHQW", t(6, 10), t(6, 10))]
    got = _needs(cold)
    assert [(n.need, n.reason, n.source) for n in got] == [
        ("flu_vaccine", "购买过连花清瘟胶囊", "rule")
    ]
    assert _needs([("order:DRUG-TCM-LHQW", t(4, 1), t(4, 1))]) == []  # older than 60 days
    assert [n.need for n in _needs([("cond:E11.9", t(1, 1), t(1, 1))])] == ["glucose_meter"]
    met = [("cond:E11.9", t(1, 1), t(1, 1)), ("order:DEV-GLU", t(1, 1, 2024), t(1, 1, 2024))]
    assert _needs(met) == []  # bought a meter: the meter need is met
    fresh = [("cond:E11.9", t(1, 1), t(1, 1)), ("order:DEV-GLU", t(6, 20), t(6, 20))]
    assert [n.need for n in _needs(fresh)] == ["glucose_self_monitoring"]
    both = [("dx:J11.1", t(6, 25), t(6, 25)), ("order:DEV-GLU", t(6, 20), t(6, 20))]
    assert [n.need for n in _needs(both)] == ["glucose_self_monitoring", "flu_vaccine"]


def test_mined_rules_rank_below_written_ones_and_skip_what_is_had():
    r = mine.MinedRule("dx:E11", "order:PKG-DM90", 30, 0.02, 0.26, 11.3)
    facts = [("dx:E11.9", t(6, 1), t(6, 1)), ("order:DEV-GLU", t(6, 20), t(6, 20))]
    got = _needs(facts, [r])
    assert [(n.need, n.source) for n in got] == [
        ("glucose_self_monitoring", "rule"),
        ("order:PKG-DM90", "mined"),
    ]
    assert (
        got[1].label == "糖尿病3个月管理包"
        and got[1].reason == "问诊诊断为 E11 (置信度 26%, 提升 11.3)"
    )
    assert _needs([*facts, ("order:PKG-DM90", t(6, 21), t(6, 21))], [r])[1:] == []
    old = [("dx:E11.9", t(1, 1), t(1, 1))]  # antecedent older than the window
    assert [n.source for n in _needs(old, [r])] == []


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("rules: []\n", "rules"),
        (
            "rules:\n  - need: Flu!\n    label: x\n    when: {orders: [A]}\n    within_days: 3\n",
            "need",
        ),
        ("rules:\n  - need: flu\n    label: x\n    when: {orders: [A]}\n", "within_days"),
        ("rules:\n  - need: flu\n    label: x\n    when: {}\n", "names no fact"),
        ("rules:\n  - need: flu\n    label: x\n    when: {pills: [A]}\n", "未知字段"),
        (
            "rules:\n  - need: a_b\n    label: x\n    when: {conditions: [E11]}\n"
            "  - need: a_b\n    label: y\n    when: {conditions: [I10]}\n",
            "defined twice",
        ),
        ("[1, 2]\n", "mapping"),
        ("rules: [\n", "nn.yaml:"),
    ],
)
def test_a_bad_rule_file_is_refused_naming_the_field(text, where):
    with pytest.raises(ConfigError) as exc:
        parse(text, "nn.yaml")
    assert where in str(exc.value) and "nn.yaml" in str(exc.value)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=300))
def test_fuzz_rule_file(text):
    with contextlib.suppress(ConfigError):
        parse(text, "fuzz.yaml")


def test_tag_table_registry_and_cli(literal, tmp_path, run_cli, monkeypatch):
    from careops.warehouse.connect import duckdb_path  # noqa: F401  (the literal file is ours)

    url = f"duckdb:///{literal.con.execute('PRAGMA database_list').fetchall()[0][2]}"
    literal.disconnect()
    ops = Ops.open(url)
    for k, v in (("min_users", 1), ("min_confidence", 0.1), ("min_lift", 0.1)):
        setattr(ops.settings.models, f"nextneed_{k}", v)
    day = dt.date(2025, 5, 25)
    meta = service.train(ops, day)
    # as of 05-25 (limit 02-24): DEV-GLU first before it for P1 and P2, P1 bought the package
    # within 90 days (P2's came after 05-25): confidence 1/2; P(package) 3/6: lift 1
    assert meta.evaluation["data"]["rules"] == 1
    res = service.next_need_table(ops, day)
    rows = {r["user_id"]: r for r in res.table.to_pylist()}
    # P3 bought a glucose meter on 03-01 (within 90 days, over 30: no self-monitoring rule)
    # and no package: the mined rule gives the package, with its measures in the reason
    assert rows["P3"]["next_need"] == "order:PKG-DM90" and rows["P3"]["next_need_source"] == "mined"
    assert rows["P3"]["next_need_reason"] == "购买过血糖仪套装 (置信度 50%, 提升 1.0)"
    assert "P1" not in rows  # has the package
    assert rows["P5"]["next_need"] == "glucose_self_monitoring"
    with pytest.raises(NotFound):
        service.next_need_table(ops, day, user_ids=["NOBODY"])
    from careops.errors import Conflict

    with pytest.raises(Conflict):
        service.next_need_table(ops, dt.date(2025, 5, 1), model_id=meta.model_id)
    monkeypatch.setenv("CAREOPS_MODELS__NEXTNEED_MIN_USERS", "1")
    monkeypatch.setenv("CAREOPS_MODELS__NEXTNEED_MIN_LIFT", "0.1")
    get_settings.cache_clear()
    code, out, err = run_cli("nextneed", "score", "--as-of", "2025-05-25", "--json", "-w", url)
    assert code == 0, err
    # P5 bought a meter on 05-01, within 30 days: the written self-monitoring rule
    assert json.loads(out)["by_need"] == {"order:PKG-DM90": 1, "glucose_self_monitoring": 1}
    code, out, err = run_cli("nextneed", "show", "P3", "--as-of", "2025-05-25", "--json", "-w", url)
    assert code == 0, err
    assert json.loads(out)["needs"][0]["need"] == "order:PKG-DM90"
    code, _, err = run_cli("nextneed", "show", "P3", "--as-of", "2999-01-01", "-w", url)
    assert code != 0 and "future" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("rules:\n  - need: x\n", "utf-8")
    code, _, err = run_cli("nextneed", "rules", "--rules", str(bad))
    assert code != 0 and "bad.yaml" in err
    code, out, _ = run_cli("nextneed", "rules", "--json")
    assert code == 0 and {r["need"] for r in json.loads(out)} >= {"flu_vaccine", "glucose_meter"}
