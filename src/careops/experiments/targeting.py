"""Who an experiment targets: a saved segment (by name, in the warehouse) or a segment rule.

Checked when the experiment is created, so a typo in the segment is refused then and not found
when users are assigned.
"""

from __future__ import annotations

from ibis.backends import BaseBackend

from careops.errors import ConfigError
from careops.segments.compile import check
from careops.segments.errors import RuleError
from careops.segments.rules import parse_rule
from careops.segments.saved import list_segments


def check_segment(key: str, segment: str, con: BaseBackend) -> str:
    """`saved` if `segment` names a saved segment, `rule` if it is a valid rule; otherwise an
    error listing the saved segments and why the text is not a rule."""
    saved = [s.name for s in list_segments(con)]
    if segment in saved:
        return "saved"
    try:
        check(parse_rule(segment))
    except RuleError as exc:
        known = ", ".join(saved) if saved else (
            "none yet — save one with careops segment save NAME --where RULE")
        msg = (f"experiment {key!r}: segment {segment!r} is neither a saved segment nor a valid"
               f" rule ({exc}); saved segments: {known}")
        raise ConfigError(msg) from None
    return "rule"
