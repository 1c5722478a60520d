"""The renewal ladder per service package (SPEC §6; what the `renewal_ladder` journey works
on): running enrolments expiring in 60 / 30 / 7 days, and for those that ended in the last
`days` days, how many were contacted, renewed, lapsed or are still inside the renewal grace.

Decisions (hospital days, facts before 00:00 of `as_of`):
- *running*: started before as_of, ending on as_of or later, not cancelled/refunded; it is
  *expiring in N days* when it ends on day as_of … as_of + N − 1 (the 7 inside the 30 inside
  the 60);
- *ended*: its end day falls in [as_of − days, as_of);
- *renewed*: as `packages.renewal` decides (a later enrolment naming it in `renewal_of`, or the
  same patient and package again within the grace days after its end);
- *lapsed*: ended at least `metrics.renewal_grace_days` ago and not renewed; *pending*: ended
  more recently and not (yet) renewed;
- *contacted*: a renewal contact (a sent message or task of the renewal journey, as the caller
  passes them: `user_id`, `ts`) from 90 days before the end to the end of the grace, before
  as_of.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.care.catalogue import Catalogue
from careops.care.packages import _enrollments, renewed_ids
from careops.config import Settings
from careops.errors import InvalidInput

STAGES = (60, 30, 7)
CONTACT_FROM_DAYS = 90
CONTACTS_SCHEMA = pa.schema([("user_id", pa.string()), ("ts", pa.timestamp("us", tz="UTC"))])


@dataclass(frozen=True)
class LadderRow:
    """One package's renewal ladder."""

    package_id: str
    running: int
    expiring_60: int
    expiring_30: int
    expiring_7: int
    ended: int
    contacted: int
    renewed: int
    renewed_contacted: int
    lapsed: int
    pending: int

    @property
    def renewal_rate(self) -> float | None:
        """Renewed among the decided (renewed + lapsed)."""
        decided = self.renewed + self.lapsed
        return self.renewed / decided if decided else None

    @property
    def contact_rate(self) -> float | None:
        return self.contacted / self.ended if self.ended else None


def ladder(
    con: BaseBackend,
    as_of: date,
    settings: Settings,
    cat: Catalogue,
    *,
    days: int = 90,
    contacts: pa.Table | None = None,
) -> list[LadderRow]:
    """The renewal ladder of every catalogue package (and any other package enrolled), in
    package order. `contacts` (user_id, ts UTC) are the renewal contacts; none: 0 contacted."""
    if not 1 <= days <= 3660:
        raise InvalidInput("days 须在 1–3660 / days must be 1–3660", field="days")
    grace = settings.metrics.renewal_grace_days
    ctx = AsOf(con, as_of, settings)
    today = ctx.day_number_lit(0)
    allx = _enrollments(ctx)
    live = allx.filter(~allx.status.isin(["cancelled", "refunded"]).fill_null(False))
    live = live.filter(live.end_at.notnull())
    running = live.filter(live.ed >= today)
    expiring = running.group_by("package_id").aggregate(
        running=running.count(),
        **{f"expiring_{n}": running.count(where=running.ed < today + n) for n in STAGES},
    )
    ended = live.filter((live.ed < today) & (live.ed >= today - days))
    renewed = renewed_ids(allx, ended, grace).distinct()
    touched = _contacted(ended, ctx, contacts, grace)
    y = ended.mutate(
        renewed=ended.enrollment_id.isin(renewed.enrollment_id),
        contacted=ended.enrollment_id.isin(touched.enrollment_id),
        settled=ended.ed <= today - grace,
    )
    outcome = y.group_by("package_id").aggregate(
        ended=y.count(),
        contacted=y.count(where=y.contacted),
        renewed=y.count(where=y.renewed),
        renewed_contacted=y.count(where=y.renewed & y.contacted),
        lapsed=y.count(where=~y.renewed & y.settled),
        pending=y.count(where=~y.renewed & ~y.settled),
    )
    got: dict[str, dict] = {}
    for table in (expiring, outcome):
        for r in table.to_pyarrow().to_pylist():
            got.setdefault(r.pop("package_id"), {}).update(r)
    names = list(cat.packages) + sorted(set(got) - set(cat.packages))
    fields = [f for f in LadderRow.__dataclass_fields__ if f != "package_id"]
    return [
        LadderRow(pid, **{f: int(got.get(pid, {}).get(f) or 0) for f in fields}) for pid in names
    ]


def _contacted(ended, ctx: AsOf, contacts: pa.Table | None, grace: int):
    """(enrollment_id) of the ended enrolments with a contact in their renewal span."""
    if contacts is None or not contacts.num_rows:
        return ended.filter(ibis.literal(False)).select("enrollment_id")
    c = ibis.memtable(contacts.select(["user_id", "ts"]).cast(CONTACTS_SCHEMA))
    c = c.select(cu=c.user_id, cts=c.ts, cd=ctx.day_number(c.ts))
    j = ended.join(
        c,
        (c.cu == ended.user_id)
        & (c.cd >= ended.ed - CONTACT_FROM_DAYS)
        & (c.cd <= ended.ed + grace)
        & (c.cts < ctx.cutoff),
    )
    return j.select("enrollment_id").distinct()
