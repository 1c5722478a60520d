"""Breakdowns: turn `--by NAME` (or any per-user Ibis table) into `(user_id, group)`.

Built in: patient columns (`sex`, `region`, `city`, `source_channel` alias `channel`); any
category or flag tag (`age_band`, `lifecycle` …) through the tag engine. Other packages add
dimensions with `register_dimension`; any Ibis table of `(user_id, <one column>)` can also be
passed directly as `by`.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable

import ibis.expr.types as ir

from careops.metrics.context import MetricContext
from careops.metrics.errors import BreakdownError

DimensionFn = Callable[[MetricContext], ir.Table]
DIMENSIONS: dict[str, DimensionFn] = {}
UNKNOWN = "(unknown)"


def register_dimension(name: str, fn: DimensionFn) -> None:
    """Make `--by name` available: `fn(ctx)` returns a `(user_id, group)` table."""
    DIMENSIONS[name] = fn


def _patient_column(column: str) -> DimensionFn:
    def fn(ctx: MetricContext) -> ir.Table:
        p = ctx.patients()
        return p.select(user_id=p.user_id, group=p[column].cast("string"))

    return fn


for _col in ("sex", "region", "city", "source_channel"):
    register_dimension(_col, _patient_column(_col))
register_dimension("channel", _patient_column("source_channel"))


def resolve(ctx: MetricContext, by: str | ir.Table) -> tuple[str, ir.Table]:
    """The breakdown's name and its `(user_id, group)` table, or a clear error."""
    if isinstance(by, ir.Table):
        cols = [c for c in by.columns if c != "user_id"]
        if "user_id" not in by.columns or len(cols) != 1:
            raise BreakdownError(
                f"by: 分组表需要 user_id 和恰好一个分组列, 实际 {by.columns} / a breakdown table "
                f"needs user_id and exactly one group column, got {by.columns}"
            )
        return cols[0], by.select(user_id=by.user_id, group=by[cols[0]].cast("string"))
    if by in DIMENSIONS:
        return by, DIMENSIONS[by](ctx)
    tag = _groupable_tag(by)
    if tag is not None:  # any category/bool tag, the four layers included
        from careops.tags.compute import tag_frame

        frame = tag_frame(ctx.con, ctx.as_of, [tag], settings=ctx.settings)
        return by, frame.select(user_id=frame.user_id, group=frame[tag].cast("string"))
    known = sorted(set(DIMENSIONS) | set(_groupable_tags()))
    close = difflib.get_close_matches(by, known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    raise BreakdownError(
        f"by: 没有名为 {by!r} 的列或标签 / no column or tag called {by!r}{hint} (known: "
        f"{', '.join(known)})"
    )


def group_order(by: str | None, groups: Iterable[str | None]) -> list[str | None]:
    """Groups in the tag's declared value order (新/活跃/低频/沉默/流失; age bands young to
    old), others alphabetically after them, unknown last."""
    tag = _tag(by)
    declared = list(tag.codes) if tag is not None else []
    rank = {code: i for i, code in enumerate(declared)}

    def key(g: str | None) -> tuple[bool, int, str]:
        return (g is None or g == UNKNOWN, rank.get(g or "", len(rank)), g or "")

    return sorted(set(groups), key=key)


def _tag(name: str | None):
    """The tag called `name` (built-in tags loaded), or None."""
    from careops.tags.registry import all_tags

    return next((t for t in all_tags() if t.name == name), None)


def _groupable_tags() -> list[str]:
    """Tags whose values make groups: categories and flags (lifecycle, value_tier, chronic …)."""
    from careops.tags.registry import all_tags

    return [t.name for t in all_tags() if t.type in ("category", "bool")]


def _groupable_tag(name: str) -> str | None:
    return name if name in _groupable_tags() else None
