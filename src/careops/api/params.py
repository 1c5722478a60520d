"""Query parameters several routes share: the as-of date and the caller's language."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import Depends, Query, Request

from careops.api.problems import wants_english


def language(request: Request) -> str:
    """`en` when the caller's `Accept-Language` prefers English, else `zh` (labels, messages)."""
    return "en" if wants_english(request) else "zh"


def as_of_date(
    request: Request,
    as_of: Annotated[
        date | None,
        Query(description="统计日 YYYY-MM-DD, 默认今天(医院时区) / as-of date, default today"),
    ] = None,
) -> date:
    """The as-of date asked for (default today, hospital time); a future day is refused."""
    from careops.asof import check_day, today

    settings = request.app.state.settings
    return check_day(as_of or today(settings), settings)


Lang = Annotated[str, Depends(language)]
AsOf = Annotated[date, Depends(as_of_date)]


def field_error(where: str, name: str, reason: object) -> Exception:
    """A 422 naming one field in the standard shape (`{"loc": [where, name], "reason"}`), for a
    domain refusal (`NotFound`, `InvalidInput`) that is about a field of the request."""
    from fastapi.exceptions import RequestValidationError

    return RequestValidationError([{"loc": (where, name), "msg": str(reason)[:300]}])
