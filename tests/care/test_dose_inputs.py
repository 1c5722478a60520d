"""Bad input to the dose check is refused with a clear error; the weight plausibility bounds
match the published growth references; the function never allows a dose over its limits."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.care import dose_growth
from careops.care.dose import check, limits_for, resolve
from careops.care.dose_table import names_of, shipped
from careops.errors import CareOpsError, InvalidInput, NotFound


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("美林", "ibuprofen"),
        ("泰诺林", "paracetamol"),
        ("仙特明", "cetirizine"),
        ("ＩＢＵＰＲＯＦＥＮ", "ibuprofen"),  # full-width, upper case
        (" Amoxicillin ", "amoxicillin"),
        ("J01CA04", "amoxicillin"),
        ("布洛芬混悬液", "ibuprofen"),  # the simulator's drug_name
        ("蒙脱石散", "smectite"),
        ("维生素D滴剂", "vitamin_d"),
        ("口服补液盐散(III)", "ors"),
        ("思密达", "smectite"),
    ],
)
def test_names_aliases_brands_and_codes_resolve(name, key):
    assert resolve(name)[0] == key


@pytest.mark.parametrize(
    ("name", "suggested"),
    [
        ("布洛分", "布洛芬"),
        ("ibuprofin", "ibuprofen"),
        ("对乙酰氨基粉", "对乙酰氨基酚"),
        ("amoxcillin", "amoxicillin"),
    ],
)
def test_an_unknown_drug_suggests_the_closest(name, suggested):
    with pytest.raises(NotFound) as exc:
        check(name, age_months=24, weight_kg=12, dose_mg=100)
    assert "unknown drug" in str(exc.value) and suggested in str(exc.value)
    assert exc.value.field == "drug"


def test_an_unknown_drug_with_nothing_close_says_so():
    with pytest.raises(NotFound) as exc:
        resolve("xyzzy")
    assert "did you mean" not in str(exc.value)


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"weight_kg": 0}, "weight_kg", "must be above 0"),
        ({"weight_kg": -3}, "weight_kg", "must be above 0"),
        ({"weight_kg": math.nan}, "weight_kg", "must be above 0"),
        ({"weight_kg": math.inf}, "weight_kg", "must be above 0"),
        ({"dose_mg": 0}, "dose_mg", "must be above 0"),
        ({"dose_mg": -100}, "dose_mg", "must be above 0"),
        ({"dose_mg": True}, "dose_mg", "must be a number"),
        ({"age_months": -1}, "age_months", "must be 0 or more"),
        ({"age_months": 216}, "age_months", "not a paediatric case"),
        ({"age_months": 300}, "age_months", "18 years"),
        ({"age_months": 10**400}, "age_months", "18 years"),
        ({"weight_kg": 10**400}, "weight_kg", "must be above 0"),
        ({"dose_mg": -(10**400)}, "dose_mg", "must be above 0"),
        ({"weight_kg": "12"}, "weight_kg", "must be a number"),
        ({"weight_kg": 120}, "weight_kg", "implausible at 24 months"),
        ({"weight_kg": 2}, "weight_kg", "implausible"),
        ({"per_day": 0}, "per_day", "whole number from 1 to 24"),
        ({"per_day": 25}, "per_day", "whole number from 1 to 24"),
        ({"per_day": 10**5000}, "per_day", "out-of-range"),
        ({"per_day": 2.5}, "per_day", "whole number"),
        ({"dose_mg": None, "dose_ml": 5}, "dose", "dosed in mg"),
        ({"dose_mg": 100, "dose_iu": 5}, "dose", "give one dose"),
        ({"dose_mg": None}, "dose", "give one dose"),
    ],
)
def test_bad_input_is_refused_naming_the_field(kwargs, field, words):
    args = {"age_months": 24, "weight_kg": 12, "dose_mg": 100, **kwargs}
    with pytest.raises(InvalidInput) as exc:
        check("ibuprofen", **args)
    assert exc.value.field == field
    assert words in str(exc.value), str(exc.value)
    assert " / " in str(exc.value)  # Chinese / English


def test_ors_is_dosed_in_ml_and_vitamin_d_in_iu():
    with pytest.raises(InvalidInput, match="dosed in mL"):
        check("ors", age_months=12, weight_kg=9, dose_mg=100)
    with pytest.raises(InvalidInput, match="dosed in IU"):
        check("vitamin_d", age_months=12, weight_kg=9, dose_mg=0.01)


def test_weight_for_age_lms_reproduces_the_published_who_tables():
    """WHO Child Growth Standards, weight-for-age boys at 12 months: −3 SD 6.9, −2 SD 7.7,
    median 9.6, +2 SD 12.0, +3 SD 13.3 kg; girls at 60 months median 18.2, +3 SD 29.5 kg."""
    boys = dose_growth.table()[(12, "M")]
    got = [round(boys.at_z(z), 1) for z in (-3, -2, 0, 2, 3)]
    assert got == [6.9, 7.7, 9.6, 12.0, 13.3]
    girls = dose_growth.table()[(60, "F")]
    assert (round(girls.M, 1), round(girls.at_z(3), 1)) == (18.2, 29.5)


def test_plausibility_bounds_follow_the_flag_cut_offs():
    """WHO: z −6 / +5 with the SD beyond ±3 carried on linearly; CDC: modified z −5 / +8."""
    boys = dose_growth.table()[(12, "M")]
    sd3, sd2 = boys.at_z(3), boys.at_z(2)
    assert boys.weight_at(5) == pytest.approx(sd3 + 2 * (sd3 - sd2))
    sdm3, sdm2 = boys.at_z(-3), boys.at_z(-2)
    assert boys.weight_at(-6) == pytest.approx(sdm3 - 3 * (sdm2 - sdm3))
    teen = dose_growth.table()[(180, "F")]
    assert teen.reference == "cdc2000"
    assert teen.weight_at(8) == pytest.approx(teen.M + 8 * (teen.at_z(2) - teen.M) / 2)
    low, high = dose_growth.weight_bounds(12)
    girls = dose_growth.table()[(12, "F")]
    assert low == math.floor(min(boys.weight_at(-6), girls.weight_at(-6)) * 10) / 10
    assert high == math.ceil(max(boys.weight_at(5), girls.weight_at(5)) * 10) / 10
    # an ordinary child is far inside; a fractional age takes the wider of two months
    assert low < 7 and high > 14
    assert dose_growth.weight_bounds(12.5)[1] >= high


def test_every_month_has_both_sexes_and_sane_bounds():
    for month in range(216):
        low, high = dose_growth.weight_bounds(month)
        assert 0.5 < low < high < 250
        assert high > dose_growth.table()[(month, "M")].M


_NAMES = sorted({n for k, d in shipped().drugs.items() for n in names_of(k, d)})
_ARG = {"mg": "dose_mg", "mL": "dose_ml", "IU": "dose_iu"}


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(_NAMES),
    age=st.floats(0, 215.999),
    where=st.floats(0, 1),
    dose=st.floats(0.001, 20_000),
    per_day=st.none() | st.integers(1, 24),
)
def test_fuzz_never_allowed_over_a_computed_limit(name, age, where, dose, per_day):
    key, drug = resolve(name)
    low, high = dose_growth.weight_bounds(age)
    weight = round(low + where * (high - low), 2)
    result = check(
        name, age_months=age, weight_kg=weight, per_day=per_day, **{_ARG[drug.unit]: dose}
    )
    lim = result.limits
    assert lim == limits_for(key, age, weight)
    if lim.below_min_age:
        assert not result.allowed
    if lim.max_per_dose is not None and dose > lim.max_per_dose:
        assert not result.allowed and "max_per_dose" in result.codes
    if (
        per_day is not None
        and lim.max_per_day is not None
        and round(dose * per_day, 6) > lim.max_per_day
    ):
        assert not result.allowed and "max_per_day" in result.codes
    if (
        per_day is not None
        and lim.max_doses_per_day is not None
        and per_day > lim.max_doses_per_day
    ):
        assert not result.allowed
    if result.allowed:
        assert not lim.below_min_age and not result.reasons
    else:
        assert len(result.reasons) == len(result.codes) >= 1


@settings(max_examples=300, deadline=None)
@given(
    name=st.text(max_size=30),
    age=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400),
    weight=st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400),
    dose=st.floats(allow_nan=True, allow_infinity=True),
    per_day=st.none() | st.integers(-5, 100) | st.integers() | st.floats() | st.text(max_size=3),
)
def test_fuzz_hostile_arguments_answer_or_refuse_never_crash(name, age, weight, dose, per_day):
    try:
        check(name, age_months=age, weight_kg=weight, dose_mg=dose, per_day=per_day)
    except CareOpsError as exc:
        assert str(exc)
