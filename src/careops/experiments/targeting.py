"""Who an experiment targets: a saved segment (by name, in the state store) or a segment rule.

Checked when the experiment is created, so a typo in the segment is refused then and not found
when users are assigned.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from careops.errors import ConfigError
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import parse_rule


def check_segment(key: str, segment: str, saved: Collection[str]) -> Literal["saved", "rule"]:
    """`saved` if `segment` is one of the `saved` segments' names, `rule` if it is a valid
    rule; otherwise an error listing the saved segments and why the text is not a rule."""
    if segment in saved:
        return "saved"
    try:
        check(parse_rule(segment))
    except RuleError as exc:
        known = (
            ", ".join(sorted(saved)) if saved else "none yet (save one with careops segment save)"
        )
        msg = (
            f"实验 {key!r}: 人群 {segment!r} 既不是已保存的人群, 也不是有效规则 / "
            f"experiment {key!r}: segment {segment!r} is neither a saved segment nor a valid"
            f" rule ({exc}); saved segments: {known}"
        )
        raise ConfigError(msg, field="segment") from None
    return "rule"
