"""The dose table is validated when it is read: a wrong table is refused whole, with the drug
and field named."""

from __future__ import annotations

import copy
from importlib import resources

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.care.dose_table import CITABLE, load_file, parse, shipped
from careops.errors import ConfigError

TEXT = resources.files("careops.care").joinpath("data/dosage.yaml").read_text()
BASE = yaml.safe_load(TEXT)


def _refused(doc) -> str:
    with pytest.raises(ConfigError) as exc:
        parse(yaml.safe_dump(doc, allow_unicode=True), "t.yaml")
    return str(exc.value)


def _mutated(change) -> dict:
    doc = copy.deepcopy(BASE)
    change(doc)
    return doc


def test_the_shipped_table_is_valid_and_names_every_required_drug():
    table = shipped()
    assert {"paracetamol", "ibuprofen", "amoxicillin", "cetirizine", "ors"} <= set(table.drugs)
    # the drugs the simulator prescribes in paediatrics (careops.sim.vocab, 儿科)
    from careops.sim import vocab

    atc = {d.atc for d in table.drugs.values()}
    assert set(vocab.DEPARTMENTS["儿科"].drugs) <= atc
    for drug in table.drugs.values():
        assert drug.cites and all(c.says for c in drug.cites.values())


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            lambda d: d["drugs"]["ibuprofen"]["bands"][0].update(max_per_kg_hour=1),
            ["drugs.ibuprofen.bands[0].max_per_kg_hour", "unknown field"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"].update(brand="x"),
            ["drugs.ibuprofen.brand", "unknown field"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"]["cites"].pop("max_per_kg_day"),
            ["drugs.ibuprofen", "no cited source for max_per_kg_day"],
        ),
        (
            lambda d: d["drugs"]["paracetamol"]["cites"]["max_per_kg_dose"].update(source="bnf9"),
            ["drugs.paracetamol.cites.max_per_kg_dose", "unknown source 'bnf9'"],
        ),
        (
            lambda d: d["drugs"]["paracetamol"]["bands"][0].update(
                recommended_per_kg_dose=[15, 10]
            ),
            ["drugs.paracetamol.bands[0].recommended_per_kg_dose", "low end 15.0 is above"],
        ),
        (
            lambda d: d["drugs"]["paracetamol"]["bands"][0].update(
                recommended_per_kg_dose=[10, 20]
            ),
            ["drugs.paracetamol.bands[0]", "high end 20.0 is above max_per_kg_dose 15"],
        ),
        (
            lambda d: d["drugs"]["cetirizine"]["bands"][0].update(max_dose=6, max_day=5),
            ["drugs.cetirizine.bands[0]", "max_dose 6.0 is above max_day 5"],
        ),
        (
            lambda d: d["drugs"]["cetirizine"]["bands"][1].update(from_months=70),
            ["drugs.cetirizine", "without gap or overlap"],
        ),
        (
            lambda d: d["drugs"]["cetirizine"]["bands"][2].update(to_months=200),
            ["drugs.cetirizine", "must end at 216"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"].update(min_age_months=3),
            ["drugs.ibuprofen", "must start at min_age_months"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"].update(adult_max_dose=5000),
            ["drugs.ibuprofen", "adult_max_dose is above adult_max_day"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"]["bands"][0].update(max_per_kg_dose=True),
            ["drugs.ibuprofen.bands[0].max_per_kg_dose", "valid number"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"]["bands"][0].update(max_per_kg_dose="10"),
            ["drugs.ibuprofen.bands[0].max_per_kg_dose", "valid number"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"]["bands"][0].update(max_per_kg_dose=-1),
            ["drugs.ibuprofen.bands[0].max_per_kg_dose", "greater than 0"],
        ),
        (
            lambda d: d["drugs"]["ors"]["bands"][0].pop("max_dose"),
            ["drugs.ors.bands[0]", "per-dose cap"],
        ),
        (
            lambda d: d["drugs"]["amoxicillin"]["aliases"].append("美林"),
            ["drugs.ibuprofen", "also names amoxicillin"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"].update(unit="g"),
            ["drugs.ibuprofen.unit"],
        ),
        (
            lambda d: d["drugs"]["ibuprofen"]["cites"].update(
                max_day={"source": "bnfc", "says": "x"}
            ),
            ["drugs.ibuprofen", "cites names fields the drug does not set: max_day"],
        ),
        (lambda d: d["drugs"].update(Bad_Key=d["drugs"]["ors"]), ["drugs", "lower-case"]),
        (
            lambda d: d["sources"].update(who_mfc_2010={"zh": "世卫", "en": "WHO MFC"}),
            ["sources no drug cites: who_mfc_2010"],
        ),
        (lambda d: d["sources"]["bnfc"].pop("en"), ["sources.bnfc.en", "required field missing"]),
    ],
)
def test_a_wrong_table_is_refused_naming_drug_and_field(change, expected):
    message = _refused(_mutated(change))
    assert message.startswith("t.yaml: ")
    for part in expected:
        assert part in message, message


def test_the_error_gives_the_line():
    text = TEXT.replace(
        "        max_per_kg_day: 30\n", "        max_per_kg_day: 30\n        oops: 1\n"
    )
    with pytest.raises(ConfigError) as exc:
        parse(text, "dosage.yaml")
    line = text.splitlines().index("        oops: 1") + 1
    assert f"line {line}: drugs.ibuprofen.bands[0].oops" in str(exc.value)


@pytest.mark.parametrize(
    "text",
    ["", "- a\n- b\n", "drugs: [\n", "!!python/object:os.system {}\n", "a: &x [*x]\n", "\xff"],
)
def test_unreadable_yaml_is_a_config_error(text):
    with pytest.raises(ConfigError):
        parse(text, "t.yaml")


def test_a_hospital_file_is_read_and_a_missing_one_named(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text(TEXT, encoding="utf-8")
    assert set(load_file(p).drugs) == set(shipped().drugs)
    with pytest.raises(ConfigError, match="not found"):
        load_file(tmp_path / "nope.yaml")


def test_every_citable_field_is_a_field_of_a_band_or_drug():
    from careops.care.dose_table import Band, Drug

    fields = set(Band.model_fields) | set(Drug.model_fields)
    assert set(CITABLE) <= fields


@settings(max_examples=150, deadline=None)
@given(
    st.integers(0, len(TEXT) - 1),
    st.integers(0, 40),
    st.text(max_size=20),
)
def test_fuzz_edited_yaml_is_valid_or_a_config_error(start, length, insert):
    text = TEXT[:start] + insert + TEXT[start + length :]
    try:
        parse(text, "t.yaml")
    except ConfigError as exc:
        assert str(exc).startswith("t.yaml")
