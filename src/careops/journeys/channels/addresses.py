"""Checks on the addresses a message goes to, shared by the adapters."""

from __future__ import annotations

import re

_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_CN_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
#: what the adapters answer when a patient has no address on a channel
NOT_BOUND = "not_bound"


def phone_e164(raw: str) -> str | None:
    """`raw` as E.164 (`+8613800000000`): a mainland mobile gains +86; None when not a phone."""
    s = raw.strip().replace(" ", "").replace("-", "")
    if not _PHONE.match(s):
        return None
    if _CN_MOBILE.match(s):
        return "+86" + s
    if s.startswith("00"):
        s = "+" + s[2:]
    return s if s.startswith("+") else None


def phone_mainland_or_intl(raw: str) -> str | None:
    """The Alibaba form: a mainland mobile as 11 digits, others with their 00 country code."""
    e164 = phone_e164(raw)
    if e164 is None:
        return None
    if e164.startswith("+86") and _CN_MOBILE.match(e164[3:]):
        return e164[3:]
    return "00" + e164[1:]


def has_control(text: str) -> bool:
    """True when `text` holds a CR, LF or another control character (header injection)."""
    return any(ord(c) < 32 or ord(c) == 127 for c in text)
