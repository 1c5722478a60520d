"""The orjson body parser answers every body exactly as `json.loads` does (value or error)."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from careops.api.jsonbody import loads

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
)
_values = st.recursive(
    _scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=20,
)


def _outcome(parse, body: bytes):
    try:
        return "ok", json.dumps(parse(body), allow_nan=True)  # text: 1 and 1.0, NaN compared
    except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return "error", type(exc).__name__


@settings(max_examples=300, deadline=None)
@given(_values, st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]), st.booleans())
def test_same_value_as_the_standard_library(value, encoding, ascii_only):
    body = json.dumps(value, ensure_ascii=ascii_only).encode(encoding, "surrogatepass")
    assert _outcome(loads, body) == _outcome(json.loads, body)


@settings(max_examples=300, deadline=None)
@given(_values, st.binary(max_size=3), st.integers(min_value=0, max_value=200))
def test_same_answer_to_damaged_bodies(value, junk, at):
    text = json.dumps(value).encode()
    at = min(at, len(text))
    body = text[:at] + junk + text[at + len(junk) :]
    assert _outcome(loads, body) == _outcome(json.loads, body)


@pytest.mark.parametrize(
    "body",
    [
        b"NaN",
        b"[1e400]",
        b'"\\ud800"',
        b"\xef\xbb\xbf{}",
        b"123456789012345678901234567890",
        b"18446744073709551616",
        b"-9223372036854775809",
        b'{"a": 1, "a": 2}',
        b'{"a": "\t"}',
        b"[1,]",
        b"",
    ],
)
def test_bodies_orjson_reads_otherwise(body):
    assert _outcome(loads, body) == _outcome(json.loads, body)
