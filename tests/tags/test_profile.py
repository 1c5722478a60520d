"""Static profile tags: age on the birthday, age bands, elderly / child, sex, family accounts."""

from datetime import date

import pytest

from careops.tags.compute import compute_tags
from tests.tags.conftest import by_user
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)


@pytest.fixture(scope="module")
def tags(module_duck):
    h = Hospital(AS_OF)
    h.patient("bday60", birth=date(1966, 6, 1), sex="M")  # 60 today
    h.patient("eve60", birth=date(1966, 6, 2), sex="M")  # 59 until tomorrow
    h.patient("kid14", birth=date(2011, 6, 2), sex="F")  # 14
    h.patient("kid15", birth=date(2011, 6, 1), sex="F")  # 15 today
    h.patient("leap", birth=date(2000, 2, 29), sex="U")  # 26
    h.patient("nobirth", birth=None, sex=None)
    h.patient("parent").patient("child", managed_by="parent")
    h.load(module_duck)
    return by_user(
        compute_tags(
            module_duck,
            AS_OF,
            [
                "age",
                "age_band",
                "elderly",
                "child",
                "sex",
                "proxy_managed",
                "family_manager",
                "managed_by",
            ],
        )
    )


@pytest.mark.parametrize(
    ("user", "age", "band", "elderly", "child"),
    [
        ("bday60", 60, "60+", True, False),
        ("eve60", 59, "45-59", False, False),
        ("kid14", 14, "0-14", False, True),
        ("kid15", 15, "15-24", False, False),
        ("leap", 26, "25-34", False, False),
        ("nobirth", None, "unknown", False, False),
    ],
)
def test_age_and_groups(tags, user, age, band, elderly, child):
    row = tags[user]
    assert (row["age"], row["age_band"], row["elderly"], row["child"]) == (
        age,
        band,
        elderly,
        child,
    )


def test_sex_defaults_to_unknown(tags):
    assert tags["nobirth"]["sex"] == "U"
    assert tags["bday60"]["sex"] == "M"


def test_family_accounts(tags):
    assert tags["child"]["proxy_managed"] is True
    assert tags["child"]["managed_by"] == "parent"
    assert tags["parent"]["family_manager"] is True
    assert tags["parent"]["proxy_managed"] is False
    assert tags["child"]["family_manager"] is False
