"""The rule door under hostile input: every answer is a parsed rule or a RuleError, never a
traceback (RecursionError, OverflowError …) — found by the trial: deep nesting, huge numbers
and long OR chains crashed `careops segment count`."""

from __future__ import annotations

import contextlib
import json
import random

import pytest

from careops.errors import CareOpsError
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import MAX_CONDITIONS, MAX_DEPTH, parse_rule


@pytest.mark.parametrize(
    ("rule", "says"),
    [
        ("(" * 3000 + "chronic" + ")" * 3000, "nests deeper"),
        ("not " * 5000 + "chronic", "nests deeper"),
        ('{"and": ' * 2000 + '{"tag": "age", "op": ">", "value": 1}' + "}" * 2000, "deeper"),
        ("age > 1" + "0" * 400, "too large"),
        ("age > " + "9" * 10_000, "too large"),  # past int()'s 4,300-digit limit: was a ValueError
        ('{"tag": "age", "op": ">", "value": 1e400}', "out of range"),
        ('{"tag": "age", "op": ">", "value": NaN}', "out of range"),
        (" or ".join(f"age == {i}" for i in range(MAX_CONDITIONS + 1)), "conditions"),
        ("age == 1 and " * 60_000 + "chronic", "characters long"),
    ],
)
def test_extreme_rules_are_refused_with_a_reason(rule, says):
    with pytest.raises(RuleError) as caught:
        parse_rule(rule)
    assert says in str(caught.value)


def test_rules_at_the_limits_still_work():
    deep = "(" * (MAX_DEPTH - 1) + "chronic" + ")" * (MAX_DEPTH - 1)
    assert check(parse_rule(deep))[0] is not None
    wide = " or ".join(f"age == {i}" for i in range(MAX_CONDITIONS))
    assert len(parse_rule(wide).items) == MAX_CONDITIONS
    assert parse_rule("age > 9223372036854775807").value == 2**63 - 1


PIECES = [
    "(",
    ")",
    "[",
    "]",
    ",",
    "and",
    "or",
    "not",
    "between",
    "in",
    "is",
    "null",
    "==",
    "=",
    ">",
    "age",
    "sex",
    "生命周期",
    "chronic",
    "searched",
    "did",
    "1e309",
    "-0",
    "9" * 40,
    '"F"',
    "'沉默用户'",
    '"[/bold]"',
    '"[link=http://x]a[/link]"',
    '"\x1b[31m"',
    '"\x00"',
    '"\u202e"',
    '"' + "长" * 10_000 + '"',
    "within=",
    '"30d"',
    '"-5d"',
    '"99999999d"',
    "\\",
    '"',
    "{",
    "}",
]


def _hostile(rng: random.Random) -> str:
    shape = rng.random()
    if shape < 0.6:
        return " ".join(rng.choice(PIECES) for _ in range(rng.randint(1, 40)))
    if shape < 0.8:
        node: object = {
            "tag": rng.choice(["age", "sex", "x"]),
            "op": rng.choice([">", "in", "?"]),
            "value": rng.choice([1, "F", [1, 2], None, 1e308, -(2**70), {"a": 1}]),
        }
        for _ in range(rng.randint(0, 80)):
            node = rng.choice(
                [{"and": [node]}, {"or": [node, {"tag": "chronic"}]}, {"not": node}, [node]]
            )
        return json.dumps(node)
    return "".join(chr(rng.randint(0, 0x2FFFF)) for _ in range(rng.randint(1, 200)))


def test_fuzz_the_rule_door_finds_no_traceback():
    rng = random.Random(20261201)
    for _ in range(3000):
        text = _hostile(rng)
        with contextlib.suppress(CareOpsError):
            check(parse_rule(text))
