"""Every drug of the dose table on hand-worked cases at, just under and just over each limit.

Each row: drug, age (months), weight (kg), dose (in the drug's unit), doses a day (None: not
given), and the codes that block it (empty: allowed). The comment is the arithmetic, from the
figures in dosage.yaml (sources in docs/dosage.md).
"""

from __future__ import annotations

import pytest

from careops.care.dose import check, limits_for
from careops.care.dose_table import shipped

ALLOWED: tuple[str, ...] = ()
CASES = [
    # --- paracetamol: min 2 months; 15 mg/kg/dose; 60 mg/kg/day; 4 a day; adult 600 / 2000 mg
    ("paracetamol", 1.9, 5, 50, None, ("below_min_age",)),  # 1.9 < 2 months
    ("paracetamol", 2, 5, 75, None, ALLOWED),  # at min age; 15 × 5 = 75 at the cap
    ("paracetamol", 24, 10, 150, None, ALLOWED),  # 15 × 10 = 150: at
    ("paracetamol", 24, 10, 149.9, None, ALLOWED),  # just under 150
    ("paracetamol", 24, 10, 150.1, None, ("max_per_dose",)),  # just over 150
    ("paracetamol", 24, 10, 150, 4, ALLOWED),  # 150 × 4 = 600 = 60 × 10: day at
    ("paracetamol", 24, 10, 149.9, 4, ALLOWED),  # 599.6 < 600
    ("paracetamol", 24, 10, 120, 5, ("max_doses_per_day",)),  # 5 > 4; 600 = day cap
    ("paracetamol", 24, 10, 121, 5, ("max_doses_per_day", "max_per_day")),  # 605 > 600
    ("paracetamol", 180, 45, 600, None, ALLOWED),  # min(15 × 45 = 675, adult 600) = 600: at
    ("paracetamol", 180, 45, 599.9, None, ALLOWED),  # just under the adult dose cap
    ("paracetamol", 180, 45, 600.1, None, ("max_per_dose",)),  # over the adult cap, < 675
    ("paracetamol", 180, 45, 500, 4, ALLOWED),  # 2000 = min(60 × 45 = 2700, adult 2000)
    ("paracetamol", 180, 45, 499.9, 4, ALLOWED),  # 1999.6
    ("paracetamol", 180, 45, 500.1, 4, ("max_per_day",)),  # 2000.4 > adult 2000
    # --- ibuprofen: min 6 months; 10 mg/kg/dose; 30 mg/kg/day; 4 a day; adult 400 / 1200 mg
    ("ibuprofen", 5.9, 7, 50, None, ("below_min_age",)),  # 5.9 < 6
    ("ibuprofen", 6, 7, 70, None, ALLOWED),  # at min age; 10 × 7 = 70 at
    ("ibuprofen", 24, 12, 120, None, ALLOWED),  # 10 × 12 = 120: at
    ("ibuprofen", 24, 12, 119.9, None, ALLOWED),
    ("ibuprofen", 24, 12, 120.1, None, ("max_per_dose",)),
    ("ibuprofen", 24, 12, 120, 3, ALLOWED),  # 360 = 30 × 12: day at
    ("ibuprofen", 24, 12, 90, 4, ALLOWED),  # 360 at
    ("ibuprofen", 24, 12, 89.9, 4, ALLOWED),  # 359.6
    ("ibuprofen", 24, 12, 90.1, 4, ("max_per_day",)),  # 360.4 > 360, dose 90.1 < 120
    ("ibuprofen", 24, 12, 120, 4, ("max_per_day",)),  # 480 > 360 (Chinese label 40/kg: 480)
    ("ibuprofen", 24, 12, 60, 5, ("max_doses_per_day",)),  # 5 > 4; 300 < 360
    ("ibuprofen", 168, 50, 400, None, ALLOWED),  # min(10 × 50 = 500, adult 400): at
    ("ibuprofen", 168, 50, 399.9, None, ALLOWED),
    ("ibuprofen", 168, 50, 400.1, None, ("max_per_dose",)),
    ("ibuprofen", 168, 50, 300, 4, ALLOWED),  # 1200 = min(30 × 50 = 1500, adult 1200)
    ("ibuprofen", 168, 50, 300.1, 4, ("max_per_day",)),  # 1200.4
    # --- amoxicillin: <3 months 15 mg/kg/dose, 30 mg/kg/day, 2 a day; from 3 months
    #     20 mg/kg/dose, 40 mg/kg/day, 3 a day; adult 500 / 4000 mg; from birth
    ("amoxicillin", 0, 3.3, 49.5, 2, ALLOWED),  # 15 × 3.3 = 49.5; 99 = 30 × 3.3
    ("amoxicillin", 2, 5, 75, None, ALLOWED),  # 15 × 5 = 75 at
    ("amoxicillin", 2, 5, 74.9, None, ALLOWED),
    ("amoxicillin", 2, 5, 75.1, None, ("max_per_dose",)),
    ("amoxicillin", 2, 5, 75, 2, ALLOWED),  # 150 = 30 × 5 at
    ("amoxicillin", 2, 5, 50, 3, ("max_doses_per_day",)),  # 3 > 2; 150 at
    ("amoxicillin", 2, 5, 50.1, 3, ("max_doses_per_day", "max_per_day")),  # 150.3 > 150
    ("amoxicillin", 2.99, 6, 120, None, ("max_per_dose",)),  # still < 3 months: 15 × 6 = 90
    ("amoxicillin", 3, 6, 120, None, ALLOWED),  # from 3 months: 20 × 6 = 120
    ("amoxicillin", 36, 15, 300, None, ALLOWED),  # 20 × 15 = 300 at
    ("amoxicillin", 36, 15, 299.9, None, ALLOWED),
    ("amoxicillin", 36, 15, 300.1, None, ("max_per_dose",)),
    ("amoxicillin", 36, 15, 200, 3, ALLOWED),  # 600 = 40 × 15 at
    ("amoxicillin", 36, 15, 300, 2, ALLOWED),  # 600 at
    ("amoxicillin", 36, 15, 199.9, 3, ALLOWED),  # 599.7
    ("amoxicillin", 36, 15, 200.1, 3, ("max_per_day",)),  # 600.3 > 600
    ("amoxicillin", 36, 15, 150, 4, ("max_doses_per_day",)),  # 4 > 3; 600 at
    ("amoxicillin", 120, 30, 500, None, ALLOWED),  # min(20 × 30 = 600, adult 500) at
    ("amoxicillin", 120, 30, 499.9, None, ALLOWED),
    ("amoxicillin", 120, 30, 500.1, None, ("max_per_dose",)),  # over the adult cap, < 600
    ("amoxicillin", 120, 30, 400, 3, ALLOWED),  # 1200 = 40 × 30 at
    ("amoxicillin", 120, 30, 400.1, 3, ("max_per_day",)),  # 1200.3
    # --- cetirizine: min 24 months; 2–5 y 5 mg/dose 5 mg/day; 6–11 y and 12+ 10 / 10; 2 a day
    ("cetirizine", 23.9, 12, 2.5, None, ("below_min_age",)),
    ("cetirizine", 24, 12, 2.5, None, ALLOWED),  # at min age
    ("cetirizine", 48, 16, 5, None, ALLOWED),  # 5 at
    ("cetirizine", 48, 16, 4.9, None, ALLOWED),
    ("cetirizine", 48, 16, 5.1, None, ("max_per_dose",)),
    ("cetirizine", 48, 16, 2.5, 2, ALLOWED),  # 5 a day at
    ("cetirizine", 48, 16, 2.6, 2, ("max_per_day",)),  # 5.2 > 5
    ("cetirizine", 48, 16, 1.5, 3, ("max_doses_per_day",)),  # 3 > 2; 4.5 < 5
    ("cetirizine", 71.9, 20, 10, None, ("max_per_dose",)),  # still 2–5 years: 5
    ("cetirizine", 72, 20, 10, None, ALLOWED),  # 6 years: 10
    ("cetirizine", 96, 25, 10, 1, ALLOWED),  # 10 at
    ("cetirizine", 96, 25, 10.1, None, ("max_per_dose",)),
    ("cetirizine", 96, 25, 5, 2, ALLOWED),  # 10 a day at
    ("cetirizine", 96, 25, 5.1, 2, ("max_per_day",)),  # 10.2
    ("cetirizine", 150, 40, 10, None, ALLOWED),  # 12+: adult cap 10 at
    ("cetirizine", 150, 40, 9.9, None, ALLOWED),
    ("cetirizine", 150, 40, 10.01, None, ("max_per_dose",)),
    ("cetirizine", 150, 40, 10, 2, ("max_per_day",)),  # 20 > 10
    # --- oral rehydration salts (mL after each loose stool): <6 m 50; 6–23 m 100; 2–9 y 150;
    #     10 y+ no cap; no daily count; from birth
    ("ors", 0, 3.3, 50, None, ALLOWED),
    ("ors", 3, 6, 49.9, None, ALLOWED),
    ("ors", 3, 6, 50.1, None, ("max_per_dose",)),
    ("ors", 12, 9, 100, 10, ALLOWED),  # no daily cap, no count
    ("ors", 12, 9, 100.1, None, ("max_per_dose",)),
    ("ors", 60, 18, 150, None, ALLOWED),
    ("ors", 60, 18, 150.1, None, ("max_per_dose",)),
    ("ors", 119.9, 30, 200, None, ("max_per_dose",)),  # WHO allows 200; Chinese cap 150
    ("ors", 120, 30, 1000, 24, ALLOWED),  # 10 years: as much as wanted
    # --- diosmectite (mg; sachet 3 g): <1 y 3 g/day, 2 g/dose; 1–2 y 6 / 4 g; 2 y+ 9 / 6 g
    #     (per dose = doubled first dose); 3 a day; adult 6 / 9 g
    ("smectite", 6, 7.5, 1000, 3, ALLOWED),  # 3000 at
    ("smectite", 6, 7.5, 999.9, 3, ALLOWED),
    ("smectite", 6, 7.5, 1000.1, 3, ("max_per_day",)),  # 3000.3 > 3000
    ("smectite", 6, 7.5, 2000, None, ALLOWED),  # doubled first dose: at
    ("smectite", 6, 7.5, 2000.1, None, ("max_per_dose",)),
    ("smectite", 6, 7.5, 500, 4, ("max_doses_per_day",)),  # 4 > 3; 2000 < 3000
    ("smectite", 11.9, 9, 2000, 3, ("max_per_day",)),  # <1 y: 6000 > 3000
    ("smectite", 12, 9, 2000, 3, ALLOWED),  # 1–2 y: 6000 at
    ("smectite", 18, 11, 2000.1, 3, ("max_per_day",)),  # 6000.3
    ("smectite", 18, 11, 4000, None, ALLOWED),
    ("smectite", 18, 11, 4000.1, None, ("max_per_dose",)),
    ("smectite", 60, 18, 3000, 3, ALLOWED),  # 9000 at
    ("smectite", 60, 18, 2999.9, 3, ALLOWED),
    ("smectite", 60, 18, 3000.1, 3, ("max_per_day",)),
    ("smectite", 60, 18, 6000, None, ALLOWED),  # band and adult cap 6000: at
    ("smectite", 200, 60, 6000.1, None, ("max_per_dose",)),  # adult cap 6000
    # --- vitamin D (IU, once a day): <6 m 1000; 6–11 m 1400; 1–10 y 2000; 11 y+ 4000
    ("vitamin_d", 1, 4, 400, 1, ALLOWED),
    ("vitamin_d", 1, 4, 1000, 1, ALLOWED),  # at
    ("vitamin_d", 1, 4, 999, 1, ALLOWED),
    ("vitamin_d", 1, 4, 1000.1, None, ("max_per_dose",)),
    ("vitamin_d", 1, 4, 400, 2, ("max_doses_per_day",)),  # 800 < 1000
    ("vitamin_d", 1, 4, 600, 2, ("max_doses_per_day", "max_per_day")),  # 1200 > 1000
    ("vitamin_d", 8, 8, 1400, 1, ALLOWED),
    ("vitamin_d", 8, 8, 1401, 1, ("max_per_dose", "max_per_day")),
    ("vitamin_d", 60, 18, 2000, 1, ALLOWED),
    ("vitamin_d", 60, 18, 2001, None, ("max_per_dose",)),
    ("vitamin_d", 131.9, 35, 4000, None, ("max_per_dose",)),  # still 1–10 y: 2000
    ("vitamin_d", 132, 35, 4000, 1, ALLOWED),  # 11 y: 4000 at (adult cap too)
    ("vitamin_d", 140, 35, 4000.5, None, ("max_per_dose",)),
]

_DOSE_ARG = {"mg": "dose_mg", "mL": "dose_ml", "IU": "dose_iu"}


def _check(drug, age, weight, dose, per_day):
    unit = shipped().drugs[drug].unit
    return check(drug, age_months=age, weight_kg=weight, per_day=per_day, **{_DOSE_ARG[unit]: dose})


@pytest.mark.parametrize(("drug", "age", "weight", "dose", "per_day", "codes"), CASES)
def test_hand_worked_case(drug, age, weight, dose, per_day, codes):
    result = _check(drug, age, weight, dose, per_day)
    assert result.codes == codes, result.reasons
    assert result.allowed is (codes == ())
    assert len(result.reasons) == len(codes)


def test_every_drug_has_cases_for_every_kind_of_limit_it_sets():
    """No drug of the table goes untested: each has at/under/over cases for each limit kind."""
    drugs = {c[0] for c in CASES}
    assert drugs == set(shipped().drugs)
    for key, drug in shipped().drugs.items():
        blocked = {code for c in CASES if c[0] == key for code in c[5]}
        bands = drug.bands
        if any(b.max_per_kg_dose or b.max_dose for b in bands):
            assert "max_per_dose" in blocked, key
        if any(b.max_per_kg_day or b.max_day for b in bands):
            assert "max_per_day" in blocked, key
        if any(b.max_doses_per_day for b in bands):
            assert "max_doses_per_day" in blocked, key
        if drug.min_age_months > 0:
            assert "below_min_age" in blocked, key
        allowed = [c for c in CASES if c[0] == key and c[5] == ()]
        assert len(allowed) >= 3, key


def test_reasons_name_the_limit_its_value_and_the_order():
    r = check("ibuprofen", age_months=24, weight_kg=12, dose_mg=150, per_day=4)
    dose_reason, day_reason = r.reasons
    assert "150 mg" in dose_reason and "120 mg" in dose_reason and "10 mg/kg × 12 kg" in dose_reason
    assert "单次上限" in dose_reason and "per-dose maximum" in dose_reason
    assert (
        "600 mg" in day_reason and "360 mg" in day_reason and "30 mg/kg/day × 12 kg" in day_reason
    )
    young = check("布洛芬", age_months=4, weight_kg=6.5, dose_mg=30)
    assert young.codes == ("below_min_age",)
    assert "4 个月 < 6 个月" in young.reasons[0] and "minimum age" in young.reasons[0]


def test_adult_cap_is_named_when_it_binds():
    r = check("paracetamol", age_months=180, weight_kg=45, dose_mg=650)
    assert "600 mg, adult cap" in r.reasons[0]
    assert r.limits.basis["max_per_dose"] == "600 mg, adult cap"


def test_limits_for_computes_for_the_child():
    lim = limits_for("泰诺林", 24, 10)
    assert lim.drug == "paracetamol"
    assert lim.recommended_per_dose == (100, 150)  # 10–15 mg/kg × 10 kg
    assert (lim.max_per_dose, lim.max_per_day, lim.max_doses_per_day) == (150, 600, 4)
    assert lim.min_interval_hours == 4
    assert "WHO Pocket Book" in lim.sources["max_per_kg_day"]
    amox = limits_for("amoxicillin", 200, 110)
    assert amox.max_per_day == 4000 and amox.basis["max_per_day"] == "4000 mg/day, adult cap"
    young = limits_for("cetirizine", 12, 9)
    assert young.below_min_age and young.max_per_dose is None
    rec = limits_for("amoxicillin", 36, 15)
    assert rec.recommended_per_day == (300, 600)  # 20–40 mg/kg/day × 15 kg


def test_below_the_recommended_dose_is_a_note_not_a_block():
    r = check("paracetamol", age_months=24, weight_kg=10, dose_mg=80)  # < 10 × 10
    assert r.allowed and r.notes and "100–150 mg" in r.notes[0]
    r = check("amoxicillin", age_months=36, weight_kg=15, dose_mg=100, per_day=2)  # 200 < 300
    assert r.allowed and any("300–600 mg" in n for n in r.notes)
    r = check("vitamin_d", age_months=3, weight_kg=6, dose_iu=400, per_day=1)
    assert r.allowed and r.notes == ()
