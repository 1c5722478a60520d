"""Pagination: `?limit=&offset=` in, `{"items", "total", "limit", "offset"}` out."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field

T = TypeVar("T")

MAX_LIMIT = 1000
MAX_OFFSET = 10_000_000


class PageParams(BaseModel):
    """Which slice of a list to answer."""

    limit: int = 50
    offset: int = 0


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="每页条数 / items per page")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="跳过条数 / items to skip")] = 0,
) -> PageParams:
    """The page a request asks for (bounded: no unbounded listing)."""
    return PageParams(limit=limit, offset=offset)


class Page(BaseModel, Generic[T]):
    """One page of a list and the size of the whole list."""

    items: list[T]
    total: int = Field(description="符合条件的总数 / items in the whole list")
    limit: int
    offset: int
