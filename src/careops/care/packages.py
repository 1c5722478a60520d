"""Service packages measured on the warehouse (SPEC §6): each enrolment's entitlement use and
what is left, the 90-day golden activation window, renewal by activation, delivery SLAs and
health outcomes per package. Ibis expressions over the canonical `enrollments`,
`entitlement_usage`, `consultations` and `observations`; everything sees only facts before
00:00 hospital time of `as_of`.

Decisions:
- a use counts towards activation when it falls in days [0, window) of its enrolment's start
  (hospital days), `health.package_activation_days` (90) and `_uses` (5) by default;
- an enrolment has *ended* when its end is at least `metrics.renewal_grace_days` before as_of;
  it is *renewed* when a later enrolment names it in `renewal_of`, or the same patient starts
  the same package after it and no later than the grace days after its end (as the
  `renewal_rate` metric decides);
- an SLA breach: a consultation of an enrolled patient, started while the enrolment ran, whose
  `first_reply_s` exceeds its package tier's limit (VIP 30 s, standard 600 s by default);
- outcome: among enrolled patients of a package measured by BP or glucose, the share in control
  on their last reading in the 90 days before the start, and on their last reading from day 30
  of the enrolment to its end (or as_of); only patients with both readings count.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import ibis
import ibis.expr.types as ir
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.care.catalogue import Catalogue
from careops.config import Settings
from careops.errors import InvalidInput, NotFound

SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
GLUCOSE_CODES = ("2339-0", "2345-7", "15074-8", "14749-6")
BEFORE_DAYS, AFTER_FROM_DAY = 90, 30


@dataclass(frozen=True)
class EntitlementLeft:
    """One entitlement of one enrolment: included, used, left."""

    entitlement: str
    included: int
    used: int
    left: int


@dataclass(frozen=True)
class EnrollmentUsage:
    """A patient's enrolment with each entitlement's use (uses of kinds the package does not
    include are listed with included = 0)."""

    enrollment_id: str
    package_id: str
    start_at: object
    end_at: object
    status: str | None
    price_cny: float | None
    entitlements: list[EntitlementLeft]


@dataclass(frozen=True)
class ActivationRow:
    """An enrolment inside its activation window: uses so far, how many short of the goal, and
    how far behind an even pace (goal × elapsed / window) it is."""

    enrollment_id: str
    user_id: str
    package_id: str
    day: int  # days since start, 0-based
    uses: int
    short: int  # goal − uses (≥ 0)
    behind_pace: float  # goal × (day + 1) / window − uses; > 0: behind
    days_left: int


@dataclass(frozen=True)
class RenewalGroup:
    """Ended enrolments of one activation group and how many were renewed."""

    ended: int
    renewed: int

    @property
    def rate(self) -> float | None:
        return self.renewed / self.ended if self.ended else None


@dataclass(frozen=True)
class RenewalReport:
    """Renewal among activated and not activated enrolments, and overall."""

    activated: RenewalGroup
    not_activated: RenewalGroup

    @property
    def overall(self) -> RenewalGroup:
        a, b = self.activated, self.not_activated
        return RenewalGroup(a.ended + b.ended, a.renewed + b.renewed)


@dataclass(frozen=True)
class SlaRow:
    """A package's consultations under its SLA and the breaches."""

    package_id: str
    tier: str
    limit_s: float
    consultations: int
    breaches: int

    @property
    def breach_rate(self) -> float | None:
        return self.breaches / self.consultations if self.consultations else None


@dataclass(frozen=True)
class SlaBreach:
    """One consultation that broke its package's reply limit."""

    consultation_id: str
    user_id: str
    package_id: str
    started_at: object
    first_reply_s: float
    limit_s: float


@dataclass(frozen=True)
class SlaReport:
    rows: list[SlaRow]
    breaches: list[SlaBreach]
    total_breaches: int


@dataclass(frozen=True)
class OutcomeRow:
    """A package's control rate before and after enrolment (paired patients)."""

    package_id: str
    measure: str  # bp | glucose
    patients: int
    controlled_before: int
    controlled_after: int

    @property
    def rate_before(self) -> float | None:
        return self.controlled_before / self.patients if self.patients else None

    @property
    def rate_after(self) -> float | None:
        return self.controlled_after / self.patients if self.patients else None


@dataclass
class _Frame:
    ctx: AsOf
    cat: Catalogue
    extra: dict = field(default_factory=dict)


def _enrollments(ctx: AsOf) -> ir.Table:
    e = ctx.facts("enrollments", "start_at")
    return e.mutate(sd=ctx.day_number(e.start_at), ed=ctx.day_number(e.end_at))


def _uses_in_window(ctx: AsOf, e: ir.Table, window: int) -> ir.Table:
    """(enrollment_id, uses) counting uses in days [0, window) of each enrolment's start."""
    u = ctx.facts("entitlement_usage", "ts")
    u = u.select(eid=u.enrollment_id, ud=ctx.day_number(u.ts))
    j = e.select("enrollment_id", "sd").join(
        u, (u.eid == e.enrollment_id) & (u.ud >= e.sd) & (u.ud < e.sd + window)
    )
    return j.group_by("enrollment_id").aggregate(uses=j.count())


def usage(
    con: BaseBackend, cat: Catalogue, user_id: str, as_of: date, settings: Settings
) -> list[EnrollmentUsage]:
    """Every enrolment of `user_id` (newest first) with each entitlement used and left."""
    from careops.privacy.access import check_user_id

    check_user_id(user_id)
    ctx = AsOf(con, as_of, settings)
    p = con.table("patients")
    if not p.filter(p.user_id == user_id).count().to_pyarrow().as_py():
        raise NotFound(f"没有该患者 / no patient {user_id[:64]!r}", field="user_id")
    e = ctx.facts("enrollments", "start_at")
    e = e.filter(e.user_id == user_id).order_by(ibis.desc(e.start_at))
    rows = e.to_pyarrow().to_pylist()
    u = ctx.facts("entitlement_usage", "ts")
    u = u.filter(u.user_id == user_id)
    counts = u.group_by(["enrollment_id", "entitlement"]).aggregate(n=u.count()).to_pyarrow()
    used: dict[tuple[str, str], int] = {
        (r["enrollment_id"], r["entitlement"]): r["n"] for r in counts.to_pylist()
    }
    out = []
    for r in rows:
        pkg = cat.packages.get(r["package_id"])
        included = dict(pkg.entitlements) if pkg else {}
        kinds = list(included) + sorted(
            k for (eid, k) in used if eid == r["enrollment_id"] and k not in included
        )
        ents = []
        for k in kinds:
            n = used.get((r["enrollment_id"], k), 0)
            inc = included.get(k, 0)
            ents.append(EntitlementLeft(k, inc, n, max(inc - n, 0)))
        out.append(
            EnrollmentUsage(
                r["enrollment_id"],
                r["package_id"],
                r["start_at"],
                r["end_at"],
                r["status"],
                r["price_cny"],
                ents,
            )
        )
    return out


#: the activation state of a patient with an enrolment in its window (tag `package_activation`)
ACTIVATION_STATES = (
    ("behind", "激活落后", "Behind on activation"),
    ("on_pace", "激活进度正常", "On pace"),
    ("activated", "已激活", "Activated"),
)


def activation_frame(ctx: AsOf, *, package_id: str | None = None) -> ir.Table:
    """Every enrolment inside its activation window on the frame's as-of (started in the last
    `window` days): enrollment_id, user_id, package_id, day (0-based), uses (in the window so
    far) and pace = goal × (day + 1) / window − uses (> 0: behind an even pace)."""
    h = ctx.settings.health
    window, goal = h.package_activation_days, h.package_activation_uses
    today = ctx.day_number_lit(0)
    e = _enrollments(ctx)
    e = e.filter(
        (e.sd > today - window)
        & (e.sd <= today)
        & ~e.status.isin(["cancelled", "refunded"]).fill_null(False)
    )
    if package_id is not None:
        e = e.filter(e.package_id == package_id)
    uses = _uses_in_window(ctx, e, window)
    j = e.left_join(uses, "enrollment_id")
    j = j.mutate(uses=j.uses.fill_null(0), day=(today - j.sd))
    j = j.mutate(pace=(j.day + 1).cast("float64") * goal / window - j.uses)
    return j.select("enrollment_id", "user_id", "package_id", "day", "uses", "pace")


def activation_state(ctx: AsOf) -> ir.Table:
    """One row per patient with an enrolment in its activation window: `state` (behind when
    any such enrolment is short of the goal and behind an even pace, else on_pace when one is
    short, else activated), `short` (the most uses short) and `behind_pace` (the largest)."""
    goal = ctx.settings.health.package_activation_uses
    f = activation_frame(ctx)
    rank = ibis.cases(((f.uses < goal) & (f.pace > 0), 2), (f.uses < goal, 1), else_=0)
    f = f.mutate(rank=rank, short=ibis.greatest(goal - f.uses, 0))
    g = f.group_by("user_id").aggregate(
        rank=f.rank.max(), short=f.short.max(), behind_pace=f.pace.max()
    )
    state = ibis.cases((g.rank == 2, "behind"), (g.rank == 1, "on_pace"), else_="activated")
    return g.select("user_id", state=state, short=g.short, behind_pace=g.behind_pace)


def activation(
    con: BaseBackend,
    as_of: date,
    settings: Settings,
    *,
    behind_only: bool = True,
    package_id: str | None = None,
) -> list[ActivationRow]:
    """Enrolments inside their activation window on `as_of` (started in the last `window`
    days) that have not reached the goal, most behind first (`behind_only`: only those behind
    an even pace)."""
    h = settings.health
    window, goal = h.package_activation_days, h.package_activation_uses
    j = activation_frame(AsOf(con, as_of, settings), package_id=package_id)
    j = j.filter(j.uses < goal)
    if behind_only:
        j = j.filter(j.pace > 0)
    rows = j.order_by([ibis.desc(j.pace), j.enrollment_id]).to_pyarrow()
    return [
        ActivationRow(
            r["enrollment_id"],
            r["user_id"],
            r["package_id"],
            int(r["day"]),
            int(r["uses"]),
            goal - int(r["uses"]),
            round(float(r["pace"]), 2),
            window - int(r["day"]) - 1,
        )
        for r in rows.to_pylist()
    ]


def renewed_ids(allx: ir.Table, ended: ir.Table, grace: int) -> ir.Table:
    """(enrollment_id) of the `ended` enrolments that were renewed: a later enrolment names
    it in `renewal_of`, or the same patient started the same package after its start and no
    later than `grace` days after its end (both tables from `_enrollments`)."""
    nxt = allx.select(
        nid=allx.enrollment_id,
        nuser=allx.user_id,
        npkg=allx.package_id,
        nsd=allx.sd,
        nof=allx.renewal_of,
    )
    by_link = ended.join(nxt, nxt.nof == ended.enrollment_id).select("enrollment_id")
    by_package = ended.join(
        nxt,
        (nxt.nuser == ended.user_id)
        & (nxt.npkg == ended.package_id)
        & (nxt.nsd > ended.sd)
        & (nxt.nsd <= ended.ed + grace)
        & (nxt.nid != ended.enrollment_id),
    ).select("enrollment_id")
    return ibis.union(by_link, by_package)


def renewal(con: BaseBackend, as_of: date, settings: Settings) -> RenewalReport:
    """Renewal of the enrolments ended before `as_of`, activated vs not."""
    h = settings.health
    grace = settings.metrics.renewal_grace_days
    ctx = AsOf(con, as_of, settings)
    today = ctx.day_number_lit(0)
    allx = _enrollments(ctx)
    ended = allx.filter(
        allx.end_at.notnull() & ~allx.status.isin(["cancelled", "refunded"]).fill_null(False)
    )
    ended = ended.filter(ended.ed <= today - grace)
    renewed = renewed_ids(allx, ended, grace)
    uses = _uses_in_window(ctx, ended, h.package_activation_days)
    y = ended.left_join(uses, "enrollment_id")
    y = y.mutate(
        activated=y.uses.fill_null(0) >= h.package_activation_uses,
        renewed=ibis.ifelse(y.enrollment_id.isin(renewed.enrollment_id), 1, 0),
    )
    g = y.group_by("activated").aggregate(n=y.count(), r=y.renewed.sum()).to_pyarrow()
    got = {r["activated"]: RenewalGroup(int(r["n"]), int(r["r"] or 0)) for r in g.to_pylist()}
    return RenewalReport(got.get(True, RenewalGroup(0, 0)), got.get(False, RenewalGroup(0, 0)))


def sla(
    con: BaseBackend,
    cat: Catalogue,
    as_of: date,
    settings: Settings,
    *,
    days: int = 90,
    limit: int = 50,
) -> SlaReport:
    """Consultations of enrolled patients in the `days` before `as_of`, started while their
    enrolment ran, against their package tier's first-reply limit; breaches slowest first."""
    if not 1 <= days <= 3660:
        raise InvalidInput("days 须在 1–3660 / days must be 1–3660", field="days")
    ctx = AsOf(con, as_of, settings)
    limits = ibis.memtable(
        {
            "lpkg": list(cat.packages),
            "tier": [p.tier for p in cat.packages.values()],
            "limit_s": [float(cat.sla[p.tier]) for p in cat.packages.values()],
        }
    )
    e = ctx.facts("enrollments", "start_at")
    e = e.join(limits, e.package_id == limits.lpkg)
    c = ctx.facts("consultations", "started_at", ctx.days_before(days))
    c = c.filter(c.first_reply_s.notnull())
    en = e.select(
        euser=e.user_id,
        package_id=e.package_id,
        tier=e.tier,
        limit_s=e.limit_s,
        s=e.start_at,
        en=e.end_at,
    )
    j = c.join(en, (c.user_id == en.euser) & (c.started_at >= en.s) & (c.started_at < en.en))
    # a patient in two packages at once: the consultation counts once, under the stricter SLA
    rank = ibis.row_number().over(group_by=j.consultation_id, order_by=[j.limit_s, j.package_id])
    j = j.mutate(rank=rank)
    j = j.filter(j.rank == 0).mutate(breach=ibis.ifelse(j.first_reply_s > j.limit_s, 1, 0))
    g = (
        j.group_by(["package_id", "tier", "limit_s"])
        .aggregate(n=j.count(), b=j.breach.sum())
        .order_by("package_id")
    )
    rows = [
        SlaRow(r["package_id"], r["tier"], r["limit_s"], int(r["n"]), int(r["b"]))
        for r in g.to_pyarrow().to_pylist()
    ]
    b = j.filter(j.breach == 1)
    worst = b.order_by([ibis.desc(b.first_reply_s - b.limit_s), b.consultation_id]).limit(limit)
    breaches = [
        SlaBreach(
            r["consultation_id"],
            r["user_id"],
            r["package_id"],
            r["started_at"],
            float(r["first_reply_s"]),
            float(r["limit_s"]),
        )
        for r in worst.to_pyarrow().to_pylist()
    ]
    return SlaReport(rows, breaches, sum(r.breaches for r in rows))


def _controlled(ctx: AsOf, settings: Settings, measure: str) -> ir.Table:
    """Per reading instant: (user_id, ts, ok) — BP panels joined by patient and time."""
    o = ctx.facts("observations", "ts")
    if measure == "glucose":
        g = o.filter(o.code.isin(list(GLUCOSE_CODES)))
        ok = g.value < settings.metrics.glucose_control_max_mmol
        return g.select("user_id", "ts", ok=ok)
    h = settings.health
    s = o.filter(o.code == SYSTOLIC).select("user_id", "ts", sbp=o.value)
    d = o.filter(o.code == DIASTOLIC)
    d = d.select(du=d.user_id, dts=d.ts, dbp=d.value)
    j = s.join(d, (s.user_id == d.du) & (s.ts == d.dts))
    ok = (j.sbp < h.bp_systolic_max) & (j.dbp < h.bp_diastolic_max)
    return j.select("user_id", "ts", ok=ok)


def outcomes(con: BaseBackend, cat: Catalogue, as_of: date, settings: Settings) -> list[OutcomeRow]:
    """Control rate before vs after enrolment per package measured by BP or glucose (first
    enrolment of each patient in the package)."""
    ctx = AsOf(con, as_of, settings)
    out = []
    for pid, pkg in cat.packages.items():
        if pkg.condition == "none":
            continue
        e = ctx.facts("enrollments", "start_at")
        e = e.filter(e.package_id == pid)
        first = e.group_by("user_id").aggregate(s=e.start_at.min(), en=e.end_at.max())
        r = _controlled(ctx, settings, pkg.condition)
        r = r.rename(ru="user_id")
        j = first.join(r, first.user_id == r.ru)
        before = j.filter((j.ts < j.s) & (j.ts >= j.s - ibis.interval(days=BEFORE_DAYS)))
        after = j.filter((j.ts >= j.s + ibis.interval(days=AFTER_FROM_DAY)) & (j.ts < j.en))

        def last(t: ir.Table, name: str) -> ir.Table:
            w = ibis.row_number().over(group_by=t.user_id, order_by=ibis.desc(t.ts))
            t = t.mutate(k=w)
            return t.filter(t.k == 0).select(**{f"{name}_u": t.user_id, name: t.ok})

        b, a = last(before, "b"), last(after, "a")
        pair = b.join(a, b.b_u == a.a_u)
        agg = (
            pair.aggregate(
                n=pair.count(),
                cb=pair.b.cast("int64").sum(),
                ca=pair.a.cast("int64").sum(),
            )
            .to_pyarrow()
            .to_pylist()[0]
        )
        out.append(
            OutcomeRow(pid, pkg.condition, int(agg["n"]), int(agg["cb"] or 0), int(agg["ca"] or 0))
        )
    return out
