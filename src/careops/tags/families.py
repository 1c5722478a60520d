"""Per-user aggregates the tags are built from, one family per source table.

Each family is one grouped query over one canonical table (facts before as-of only), returning
`user_id` and columns named `<family>__<column>`. Tags combine them; a computation joins only
the families its tags need, so every source table is scanned once.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.types as ir

from careops.tags import codes
from careops.tags.context import TagContext

MONEY = dt.Decimal(18, 2)
FAMILIES: dict[str, Callable[[TagContext], ir.Table]] = {}
# families that run a query when built: their schema is declared instead of derived
DECLARED: dict[str, ibis.Schema] = {}


def family(name: str):
    def wrap(fn: Callable[[TagContext], dict[str, ir.Value] | ir.Table]):
        def build(ctx: TagContext) -> ir.Table:
            table = fn(ctx)
            return table.rename({f"{name}__{c}": c for c in table.columns})

        FAMILIES[name] = build
        return fn

    return wrap


def _any(expr: ir.Value, needles: tuple[str, ...], how: str = "startswith") -> ir.BooleanValue:
    out = ibis.literal(False)
    for n in needles:
        out = out | (expr.startswith(n) if how == "startswith" else expr.contains(n))
    return out.fill_null(False)


@family("act")
def activity(ctx: TagContext) -> ir.Table:
    """Active days: hospital-local days with an event, a consultation or an order.

    One pass over the facts grouped by user: the latest fact (its local day is found once per
    user), the number of facts, and distinct local days counted only inside the window."""
    window = ctx.settings.lifecycle.active_window_days
    facts = ibis.union(
        *(
            ctx.facts(table, ts).select("user_id", ts=ts)
            for table, ts in (("events", "ts"), ("consultations", "started_at"), ("orders", "ts"))
        ),
        distinct=False,
    )
    per = facts.group_by("user_id").aggregate(
        last_ts=facts.ts.max(),
        facts=facts.count(),
        days_window=ctx.day_number(facts.ts).nunique(where=ctx.since(facts.ts, window)),
    )
    return per.select(
        "user_id",
        last_day=ctx.local_day(per.last_ts),
        days_total=per.facts,
        days_window=per.days_window,
    )


@family("ev")
def events(ctx: TagContext) -> ir.Table:
    """App behaviour: searches, interactions, night-time share, keyword signals.

    Every column counts events of a window of at most `_event_days` days, so only those events
    are read (raw timestamp comparisons; no per-event time-zone conversion)."""
    s = ctx.settings.tags
    active = ctx.settings.lifecycle.active_window_days
    t = ctx.facts("events", "ts")
    t = t.filter(ctx.since(t.ts, _event_days(ctx)))
    # what a search asked (properties.query) or a viewed item is about (properties.topic), read
    # once per event as JSON values (the document's text holds the keys too)
    t = t.select(
        "user_id",
        "name",
        "ts",
        hour=ctx.local_hour(t.ts),
        text=ibis.cases(
            (t.name == "search", ctx.prop(t.properties, "query")),
            (t.name == "view_content", ctx.prop(t.properties, "topic")),
            else_=ibis.literal(""),
        ).fill_null(""),
    )
    hour = t.hour
    start, end = s.night_hours
    night = (hour >= start) | (hour < end) if start > end else (hour >= start) & (hour < end)
    habit = ctx.since(t.ts, s.habit_days)
    need = ctx.since(t.ts, s.need_days)
    search = t.name == "search"
    text_event = search | (t.name == "view_content")
    props = t.text
    return t.group_by("user_id").aggregate(
        habit=t.count(where=habit),
        night=t.count(where=habit & night),
        search_self_check=t.count(where=search & ctx.since(t.ts, s.self_check_days)),
        interactive_window=t.count(
            where=t.name.isin(codes.INTERACTIVE_EVENTS) & ctx.since(t.ts, active)
        ),
        contribution=t.count(where=t.name.isin(codes.CONTRIBUTION_EVENTS) & need),
        acute_need=t.count(where=text_event & need & _any(props, codes.ACUTE_WORDS, "contains")),
        prevention_need=t.count(
            where=text_event & need & _any(props, codes.PREVENTION_WORDS, "contains")
        ),
        resource_need=t.count(
            where=text_event & need & _any(props, codes.RESOURCE_WORDS, "contains")
        ),
        recent_acute=t.count(
            where=search
            & ctx.since(t.ts, s.urgent_days)
            & _any(props, codes.ACUTE_WORDS, "contains")
        ),
    )


def _event_days(ctx: TagContext) -> int:
    s = ctx.settings.tags
    return max(
        s.habit_days,
        s.need_days,
        s.self_check_days,
        s.urgent_days,
        ctx.settings.lifecycle.active_window_days,
    )


@family("hour")
def usual_hour(ctx: TagContext) -> ir.Table:
    """The local hour of day with most events in the habit window (ties: the earlier hour)."""
    t = ctx.facts("events", "ts")
    t = t.filter(ctx.since(t.ts, ctx.settings.tags.habit_days))
    per = t.group_by("user_id", h=ctx.local_hour(t.ts)).aggregate(n=t.count())
    # one arg_max per user (no window ranking): most events first, then the earlier hour
    return per.group_by("user_id").aggregate(usual=per.h.argmax(per.n * 24 + 23 - per.h))


@family("co")
def consultations(ctx: TagContext) -> ir.Table:
    t = ctx.facts("consultations", "started_at")
    dx = t.diagnosis_code.fill_null("")
    s = ctx.settings.tags
    acute = _any(dx, codes.ACUTE_ICD10) | t.department.fill_null("").isin(codes.ACUTE_DEPARTMENTS)
    chronic_dx = ibis.literal(False)
    cols: dict[str, ir.Value] = {}
    for c in codes.CHRONIC:
        hit = _any(dx, c.icd10)
        chronic_dx = chronic_dx | hit
        cols[f"dx_{c.code}"] = t.count(where=hit)
    since = partial(ctx.since, t.started_at)
    return t.group_by("user_id").aggregate(
        last_at=t.started_at.max(),
        n30=t.count(where=since(30)),
        n90=t.count(where=since(90)),
        n_window=t.count(where=since(ctx.settings.lifecycle.active_window_days)),
        with_dx=t.count(where=dx != ""),
        acute_need=t.count(where=acute & since(s.need_days)),
        acute_urgent=t.count(where=acute & since(s.urgent_days)),
        chronic_need=t.count(where=chronic_dx & since(s.need_days)),
        resource_need=t.count(where=(t.mode == "offline") & since(s.need_days)),
        treatment=t.count(where=since(s.treatment_days)),
        recovery=t.count(where=since(s.recovery_days)),
        **cols,
    )


def cents(amount: ir.FloatingValue) -> ir.DecimalValue:
    """An amount in yuan as an exact decimal of cents, so sums are exact and the same on every
    backend and in any summation order (a float sum of ¥149.42 + ¥554.55 + ¥296.03 is
    999.9999999999999, not ¥1000, and parallel engines add in varying order)."""
    return amount.cast(MONEY)


@family("od")
def orders(ctx: TagContext) -> ir.Table:
    """Paid orders only (refunded, failed and cancelled orders are not spend)."""
    t = ctx.facts("orders", "ts").filter(ibis._.status == "paid")
    s = ctx.settings.tags
    since = partial(ctx.since, t.ts)
    need = since(s.need_days)
    amount = cents(t.amount_cny)
    per = t.group_by("user_id").aggregate(
        last_ts=t.ts.max(),
        total=t.count(),
        spend=amount.sum(),
        n30=t.count(where=since(30)),
        n90=t.count(where=since(90)),
        n_window=t.count(where=since(ctx.settings.lifecycle.active_window_days)),
        rfm_n=t.count(where=since(s.rfm_days)),
        rfm_spend=amount.sum(where=since(s.rfm_days)),
        health_need=t.count(where=t.category.isin(("checkup", "package", "device")) & need),
        resource_need=t.count(where=(t.category == "drug") & need),
    )
    return per.mutate(last_day=ctx.local_day(per.last_ts)).drop("last_ts")


@family("ob")
def observations(ctx: TagContext) -> ir.Table:
    t = ctx.facts("observations", "ts")
    h = ctx.settings.health
    urgent = ctx.since(t.ts, ctx.settings.tags.urgent_days)
    abnormal = (
        ((t.code == codes.SYSTOLIC) & (t.value >= h.bp_systolic_max))
        | ((t.code == codes.DIASTOLIC) & (t.value >= h.bp_diastolic_max))
        | (t.code.isin(codes.GLUCOSE_CODES) & (t.value > h.glucose_alert_mmol))
    )
    per = t.group_by("user_id").aggregate(
        total=t.count(),
        last_bp=t.ts.max(where=t.code.isin(codes.BP_CODES)),
        last_glucose=t.ts.max(where=t.code.isin(codes.GLUCOSE_CODES)),
        n_window=t.count(where=ctx.since(t.ts, ctx.settings.lifecycle.active_window_days)),
        need=t.count(where=ctx.since(t.ts, ctx.settings.tags.need_days)),
        abnormal_urgent=t.count(where=abnormal & urgent),
    )
    return per.mutate(
        last_bp_day=ctx.local_day(per.last_bp), last_glucose_day=ctx.local_day(per.last_glucose)
    ).drop("last_bp", "last_glucose")


@family("cd")
def conditions(ctx: TagContext) -> ir.Table:
    """Conditions known before as-of (no onset date: counted, the record predates loading)."""
    t = ctx.table("conditions")
    t = t.filter(t.onset_at.isnull() | ctx.before(t.onset_at))
    live = ~t.status.fill_null("active").isin(("inactive", "remission", "resolved"))
    category = t.category.fill_null("diagnosis")
    clinical = live & category.isin(("diagnosis", "problem"))
    cols: dict[str, ir.Value] = {}
    for c in codes.CHRONIC:
        hit = ((t.system == "icd10") & _any(t.code, c.icd10)) | (
            (t.system == "snomed") & t.code.isin(c.snomed) if c.snomed else ibis.literal(False)
        )
        cols[f"{c.code}"] = t.count(where=clinical & hit)
    return t.group_by("user_id").aggregate(
        total=t.count(),
        allergy=t.count(where=category == "allergy"),
        family_history=t.count(where=category == "family_history"),
        **cols,
    )


@family("rx")
def prescriptions(ctx: TagContext) -> ir.Table:
    t = ctx.facts("prescriptions", "ts")
    code = t.drug_code.fill_null("")
    name = t.drug_name.fill_null("")
    supply = t.days_supply.fill_null(0) * (t.refills.fill_null(0) + 1)
    running = ctx.day_number_lit() - ctx.day_number(t.ts) <= supply
    cols: dict[str, ir.Value] = {}
    for c in codes.CHRONIC:
        hit = _any(code, c.atc) | _any(name, c.drug_names, "contains")
        cols[c.code] = t.count(where=hit)
    return t.group_by("user_id").aggregate(
        total=t.count(),
        running=t.count(where=running),
        recovery=t.count(where=ctx.since(t.ts, ctx.settings.tags.recovery_days)),
        **cols,
    )


@family("en")
def encounters(ctx: TagContext) -> ir.Table:
    t = ctx.facts("encounters", "start_at")
    return t.group_by("user_id").aggregate(
        total=t.count(), need=t.count(where=ctx.since(t.start_at, ctx.settings.tags.need_days))
    )


@family("pk")
def packages(ctx: TagContext) -> ir.Table:
    """Service-package use: entitlement uses in the window, enrolments running at as-of."""
    u = ctx.facts("entitlement_usage", "ts")
    e = ctx.facts("enrollments", "start_at")
    window = ctx.settings.lifecycle.active_window_days
    uses = u.group_by("user_id").aggregate(uses_window=u.count(where=ctx.since(u.ts, window)))
    running = e.filter(
        e.end_at.isnull() | ~ctx.before(e.end_at),
        e.status.fill_null("active").isin(("active", "expired")),
    )
    enrolled = running.group_by("user_id").aggregate(enrolled=running.count())
    joined = uses.outer_join(enrolled, "user_id")
    return joined.select(
        user_id=ibis.coalesce(joined.user_id, joined.user_id_right),
        uses_window=joined.uses_window.fill_null(0),
        enrolled=joined.enrolled.fill_null(0),
    )


@family("pa")
def package_activation(ctx: TagContext) -> ir.Table:
    """The 90-day package activation state (`careops.care.packages.activation_state`)."""
    from careops.care.packages import activation_state

    return activation_state(ctx)


@family("fam")
def family_accounts(ctx: TagContext) -> ir.Table:
    """How many patients this account manages (patients.managed_by)."""
    p = ctx.facts("patients", "registered_at").filter(ibis._.managed_by.notnull())
    return p.group_by(user_id=p.managed_by).aggregate(manages=p.count())


def _keywords(ctx: TagContext) -> ir.Table:
    from careops.tags.keywords import keyword_table

    return keyword_table(ctx)


def _declare_keywords() -> None:
    from careops.tags.keywords import KEYWORD_SCHEMA

    FAMILIES["kw"] = _keywords
    DECLARED["kw"] = KEYWORD_SCHEMA


_declare_keywords()
