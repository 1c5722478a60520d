"""`careops dose check|list`: exit 0 allowed, 1 blocked, 2 bad input; Chinese by default."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


def test_allowed_exits_0_with_json(run_cli):
    code, out, _ = run_cli(
        "dose", "check", "--drug", "美林", "--age-months", "24", "--weight-kg", "12",
        "--dose-mg", "120", "--per-day", "3", "--json",
    )  # fmt: skip
    assert code == 0
    data = json.loads(out)
    assert data["allowed"] is True and data["reasons"] == []
    assert data["limits"]["max_per_dose"] == 120 and data["limits"]["max_per_day"] == 360
    assert data["limits"]["drug"] == "ibuprofen"


def test_blocked_exits_1_with_reasons_in_chinese_by_default(run_cli):
    args = ["dose", "check", "--drug", "ibuprofen", "--age-months", "24", "--weight-kg", "12"]
    code, out, _ = run_cli(*args, "--dose-mg", "150")
    assert code == 1
    assert "拦截" in out and "单次剂量 150 mg 超过单次上限 120 mg" in out and "per-dose" not in out
    code, out, _ = run_cli("--lang", "en", *args, "--dose-mg", "150")
    assert code == 1 and "blocked" in out and "above the per-dose maximum 120 mg" in out
    code, out, _ = run_cli(*args, "--dose-mg", "150", "--json")
    data = json.loads(out)
    assert code == 1 and data["allowed"] is False and data["codes"] == ["max_per_dose"]


def test_under_minimum_age_is_blocked(run_cli):
    code, out, _ = run_cli(
        "dose", "check", "--drug", "西替利嗪", "--age-months", "18", "--weight-kg", "11",
        "--dose-mg", "2.5", "--json",
    )  # fmt: skip
    assert code == 1 and json.loads(out)["codes"] == ["below_min_age"]


def test_ors_in_ml_and_vitamin_d_in_iu(run_cli):
    code, out, _ = run_cli(
        "dose", "check", "--drug", "ORS", "--age-months", "12", "--weight-kg", "9",
        "--dose-ml", "100",
    )  # fmt: skip
    assert code == 0 and "允许" in out
    code, _, err = run_cli(
        "dose", "check", "--drug", "ORS", "--age-months", "12", "--weight-kg", "9",
        "--dose-mg", "100",
    )  # fmt: skip
    assert code == 2 and "dosed in mL" in err and "--dose-mg / --dose-ml / --dose-iu" in err


def test_bad_input_exits_2_naming_the_flag(run_cli):
    base = ["dose", "check", "--drug", "ibuprofen", "--age-months", "24", "--dose-mg", "100"]
    code, _, err = run_cli(*base, "--weight-kg", "-3")
    assert code == 2 and "--weight-kg" in err and "Traceback" not in err
    code, _, err = run_cli(*base, "--weight-kg", "120")
    assert code == 2 and "implausible" in err
    code, _, err = run_cli(
        "dose", "check", "--drug", "布洛分", "--age-months", "24", "--weight-kg", "12",
        "--dose-mg", "100",
    )  # fmt: skip
    assert code == 2 and "布洛芬" in err and "--drug" in err
    code, _, err = run_cli(
        "dose", "check", "--drug", "ibuprofen", "--age-months", "240", "--weight-kg", "60",
        "--dose-mg", "100",
    )  # fmt: skip
    assert code == 2 and "not a paediatric case" in err and "--age-months" in err
    code, _, err = run_cli(*base, "--weight-kg", "abc")
    assert code == 2


def test_list_shows_drugs_and_sources(run_cli):
    code, out, _ = run_cli("dose", "list", "--json")
    rows = json.loads(out)
    assert code == 0 and {r["drug"] for r in rows} >= {"paracetamol", "ors", "vitamin_d"}
    assert all(r["sources"] and r["source_titles"] for r in rows)
    code, out, _ = run_cli("dose", "list")
    assert code == 0 and "儿童剂量表" in out and "对乙酰氨基酚" in out


_WORDS = st.sampled_from(
    ["美林", "ibuprofen", "ors", "x", "-1", "0", "12", "1e9", "nan", "inf", "3.5", "--json", ""]
)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    drug=_WORDS,
    age=_WORDS,
    weight=_WORDS,
    dose=_WORDS,
    per_day=st.none() | _WORDS,
)
def test_fuzz_cli_exits_0_1_or_2_never_a_traceback(run_cli, drug, age, weight, dose, per_day):
    args = ["dose", "check", "--drug", drug, "--age-months", age, "--weight-kg", weight]
    args += ["--dose-mg", dose] + ([] if per_day is None else ["--per-day", per_day])
    code, _, err = run_cli(*args)
    assert code in (0, 1, 2)
    assert "Traceback" not in err


def test_a_hospital_table_is_used_and_a_bad_one_refused(run_cli, tmp_path):
    from importlib import resources

    text = resources.files("careops.care").joinpath("data/dosage.yaml").read_text()
    mine = tmp_path / "mine.yaml"
    mine.write_text(text.replace("max_per_kg_day: 30\n", "max_per_kg_day: 40\n", 1), "utf-8")
    args = ["dose", "check", "--drug", "ibuprofen", "--age-months", "24", "--weight-kg", "12"]
    args += ["--dose-mg", "120", "--per-day", "4"]
    assert run_cli(*args)[0] == 1  # 480 > 30 × 12 in the shipped table
    assert run_cli(*args, "--table", mine)[0] == 0  # 480 = 40 × 12 in the hospital's
    bad = tmp_path / "bad.yaml"
    bad.write_text(text.replace("max_per_kg_day: 30\n", "max_per_kg_day: yes\n", 1), "utf-8")
    code, _, err = run_cli(*args, "--table", bad)
    assert code == 2 and "drugs.ibuprofen.bands[0].max_per_kg_day" in err
    code, _, err = run_cli("dose", "list", "--table", tmp_path / "none.yaml")
    assert code == 2 and "not found" in err
