"""Keep credentials out of logs, the audit trail and error messages."""

from __future__ import annotations

import re
from typing import Any

# scheme://user:password@host → scheme://user:***@host (any scheme, password up to the last @
# before the host, so a password containing '@' or ':' is hidden whole)
_URL_PASSWORD = re.compile(r"(?P<head>[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]*:)(?P<pw>[^\s/]*)@")
_SECRET_PARAM = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api_?key|access_?key)"
    r"(\s*[=:]\s*)([^\s&;,'\"]+)"
)
SECRET_KEYS = re.compile(r"(?i)(password|passwd|secret|token|api_?key|access_?key|credential)")


def redact(text: str) -> str:
    """`text` with passwords in URLs and `password=…`-style parameters replaced by `***`."""
    text = _URL_PASSWORD.sub(lambda m: f"{m['head']}***@", text)
    return _SECRET_PARAM.sub(lambda m: f"{m[1]}{m[2]}***", text)


def redact_value(value: Any) -> Any:
    """`value` (str, dict, list, nested) with every secret redacted; keys named like a secret
    lose their value whole."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {
            k: "***"
            if isinstance(k, str) and SECRET_KEYS.search(k) and v not in (None, "")
            else redact_value(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_value(v) for v in value]
    return value
