"""The as-of frame every tag is computed in: `careops.asof.AsOf`, with the tag domain's error.

An `as_of` date means 00:00 of that day in the hospital timezone; only facts with a timestamp
strictly before that instant count. A fact's *day* is its calendar day in the hospital timezone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import ClassVar

from careops.asof import AsOf, AsOfError, check_day
from careops.tags.errors import TagError

__all__ = ["TagAsOfError", "TagContext", "check_as_of"]


class TagAsOfError(TagError, AsOfError):
    """A tag request's as-of date is not allowed (in the future, or before any data)."""


@dataclass
class TagContext(AsOf):
    """The as-of frame of a tag computation."""

    error: ClassVar[type[AsOfError]] = TagAsOfError


def check_as_of(as_of: date, *, today: date | None = None) -> date:
    """Refuse an as-of date later than `careops.asof.latest_as_of` (tomorrow, hospital time)."""
    return check_day(as_of, error=TagAsOfError, now_day=today)
