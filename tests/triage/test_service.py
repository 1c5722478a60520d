"""The batch door: any lines in, one answer or one numbered error per non-blank line, in order."""

from __future__ import annotations

import json

from hypothesis import given, settings
from hypothesis import strategies as st

from careops.triage import catalogue as cat
from careops.triage.redflags import check
from careops.triage.service import Triage, answer_lines, triage

TRIAGE = Triage(cat.default())

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)
_lines = st.one_of(
    st.text(max_size=60).filter(lambda s: "\n" not in s and "\r" not in s),
    st.builds(
        lambda i, t: json.dumps({"id": i, "text": t}, ensure_ascii=False),
        _json_values,
        st.text(max_size=80) | _json_values,
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_lines, max_size=8))
def test_fuzz_batch_lines(lines):
    out = list(answer_lines(lines, TRIAGE, top=2))
    expected = [n for n, x in enumerate(lines, 1) if x.strip()]
    assert len(out) == len(expected)
    for n, obj in zip(expected, out, strict=True):
        json.dumps(obj, ensure_ascii=False)  # always serialisable
        if "error" in obj:
            assert obj["line"] == n and " / " in obj["error"]
        else:
            assert len(obj["departments"]) == 2
            assert obj["emergency"] is None or obj["emergency"]["rule"]
            assert isinstance(obj["id"], str | int | float | type(None))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzz_red_flags_never_fail(text):
    e = check(text)
    assert e is None or e.advice == "请立即拨打120或前往急诊"


def test_the_simplest_entry_takes_a_list_of_names():
    a = triage("眼睛红痒", ["眼科", "皮肤科"], top=1)
    assert [d.name for d in a.departments] == ["眼科"] and a.emergency is None
