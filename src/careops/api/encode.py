"""What JSON cannot carry: NaN and infinities become null (the standard has no such numbers,
and the service answers 500 rather than send invalid JSON)."""

from __future__ import annotations

import math
from typing import Any


def finite(value: Any) -> Any:
    """`value` with every non-finite float, at any depth of dicts and lists, read as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [finite(v) for v in value]
    return value
