"""Saved segments: definitions with versions, membership per date with entries and exits."""

from datetime import date

import pytest

from careops.segments.errors import RuleError
from careops.segments.saved import (
    get_segment,
    list_segments,
    membership_history,
    refresh_members,
    save_segment,
)
from tests.tags.hospital import Hospital

D1, D2 = date(2026, 6, 1), date(2026, 6, 3)


@pytest.fixture
def con(duck):
    h = Hospital(D1)
    h.patient("a").event("a", 1, "search", query="失眠")
    h.patient("b").event("b", 31, "search", query="失眠")
    h.patient("c").event("c", -1, "search", query="失眠")  # the day after D1: in D2's window
    h.load(duck)
    return duck


def test_save_list_and_replace(con):
    save_segment(con, "insomnia", 'searched("失眠", within="30d")', "失眠人群")
    save_segment(con, "insomnia", 'searched("失眠", within="31d")')
    save_segment(con, "women", 'sex == "F"')
    segs = list_segments(con)
    assert [s.name for s in segs] == ["insomnia", "women"]
    assert segs[0].text == 'searched(text="失眠", within="31d")'
    with pytest.raises(RuleError, match="unknown saved segment 'insomina'; did you mean "
                                        "'insomnia'"):
        get_segment(con, "insomina")
    with pytest.raises(RuleError, match="segment name"):
        save_segment(con, "bad name; drop", 'sex == "F"')
    with pytest.raises(RuleError, match="unknown tag"):
        save_segment(con, "typo", 'sexx == "F"')


def test_membership_history_counts_entries_and_exits(con):
    save_segment(con, "insomnia", 'searched("失眠", within="30d")')
    assert refresh_members(con, "insomnia", D1) == 1          # a
    assert refresh_members(con, "insomnia", D2) == 2          # a, c
    assert refresh_members(con, "insomnia", D2) == 2          # re-run: latest batch counts
    assert membership_history(con, "insomnia") == [
        {"as_of": D1, "members": 1, "entered": None, "left": None},
        {"as_of": D2, "members": 2, "entered": 1, "left": 0},
    ]
