"""Compute tags as of a date: one Ibis query over the patients and the families they need."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import lru_cache

import ibis
import ibis.expr.types as ir
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.schema import TABLES
from careops.tags.context import TagContext, check_as_of
from careops.tags.families import DECLARED, FAMILIES
from careops.tags.registry import IBIS_TYPES, Scope, Tag, all_tags, get_tag

PATIENT_COLUMNS = ("user_id", "registered_at", "birth_date", "sex", "region", "city", "managed_by")


class _Probe(Scope):
    """A scope over an unbound table holding every family column, recording what is used."""

    def __init__(self, ctx: TagContext, schema: ibis.Schema) -> None:
        super().__init__(ctx, ibis.table(schema, name="probe"))
        self.used: set[str] = set()

    def col(self, ref: str) -> ir.Value:
        self.used.add(ref.split(".", 1)[0])
        return super().col(ref)


def _patients(ctx: TagContext) -> ir.Table:
    p = ctx.facts("patients", "registered_at")
    return p.select(*PATIENT_COLUMNS)


class _Families:
    """The family expressions of one computation, built at most once each."""

    def __init__(self, ctx: TagContext) -> None:
        self.ctx = ctx
        self._built: dict[str, ir.Table] = {}

    def __getitem__(self, name: str) -> ir.Table:
        if name not in self._built:
            self._built[name] = FAMILIES[name](self.ctx)
        return self._built[name]

    def schema(self, name: str) -> ibis.Schema:
        return DECLARED[name] if name in DECLARED else self[name].schema()


class _Unbound:
    """Stands in for a warehouse: the canonical tables as unbound Ibis tables."""

    def table(self, name: str) -> ir.Table:
        return ibis.table(TABLES[name].ibis_schema(), name=name)


def needed_families(ctx: TagContext, tags: Iterable[Tag]) -> list[str]:
    """The families the given tags read (found by building them over a probe table)."""
    return list(_needed(tuple(t.name for t in tags), ctx.as_of, ctx.settings.model_dump_json()))


@lru_cache(maxsize=64)
def _needed(names: tuple[str, ...], as_of: date, settings_json: str) -> tuple[str, ...]:
    ctx = TagContext(_Unbound(), as_of, Settings.model_validate_json(settings_json))  # type: ignore[arg-type]
    families = _Families(ctx)
    fields = dict(_patients(ctx).schema().items())
    for name in FAMILIES:
        fields |= dict(families.schema(name).items())
    probe = _Probe(ctx, ibis.schema(fields))
    for n in names:
        probe.tag(n)
    return tuple(name for name in FAMILIES if name in probe.used)


def tag_frame(
    con: BaseBackend,
    as_of: date,
    names: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
) -> ir.Table:
    """An Ibis table: one row per patient registered before as-of, `user_id` + the tags."""
    ctx = TagContext(con, check_as_of(as_of), settings or get_settings())
    tags = [get_tag(n) for n in names] if names is not None else all_tags()
    families = _Families(ctx)
    base = _patients(ctx)
    wide = base
    for name in needed_families(ctx, tags):
        fam = families[name]
        wide = wide.left_join(fam, base.user_id == fam[f"{name}__user_id"])
    scope = Scope(ctx, wide.select(*wide.columns) if wide is not base else base)
    return wide.select(
        user_id=wide.user_id, **{t.name: scope.tag(t.name).cast(IBIS_TYPES[t.type]) for t in tags}
    )


def require_patients(con: BaseBackend, as_of: date, settings: Settings | None = None) -> int:
    """1 if a patient registered before as-of; else the frame's error (`AsOf.validate`): as-of
    in the future, no patients, or none registered before as-of (naming the earliest date)."""
    TagContext(con, as_of, settings or get_settings()).validate()
    return 1


def compute_tags(
    con: BaseBackend,
    as_of: date,
    names: Iterable[str] | None = None,
    *,
    settings: Settings | None = None,
) -> pa.Table:
    """Compute tags for every patient as of a date and return them as Arrow (sorted by user)."""
    require_patients(con, as_of, settings)
    return tag_frame(con, as_of, names, settings=settings).order_by("user_id").to_pyarrow()
