"""Churn features as of a date: one Ibis query, one row per patient, facts before the cut-off only.

Every feature is a per-patient aggregate of one canonical table (`careops.asof` frame: facts
strictly before 00:00 hospital time of `as_of`), left-joined onto the patients registered
before the cut-off. Day counts are hospital-local day numbers (integer arithmetic per fact), so
DuckDB, PostgreSQL and Spark agree. "Days since" a kind of activity is null when it never
happened (LightGBM treats null as its own branch). The static tags `age` and `chronic` come
from the tag registry (`careops.tags.compute.tag_frame`), so they mean what the tags mean.

The features (name → meaning) are listed in `FEATURES`; `CATEGORICAL` are integer codes of
`sex` and `source_channel` (the codes are stored with the model: `Encoding`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import ibis
import ibis.expr.types as ir
import numpy as np
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings, get_settings
from careops.tags.compute import tag_frame

#: windows (days) of the counted features
W_SHORT, W_MONTH, W_QUARTER, W_YEAR = 7, 30, 90, 365
#: the `tickets.reason` of a complaint about a failed payment (others are about the service)
PAYMENT_REASON = "payment_failure"

#: feature name → what it is (English; the Chinese reason phrases are in `reasons.py`)
FEATURES: dict[str, str] = {
    "registered_days": "days since registration",
    "days_since_active": "days since the last active day (event, consultation or order)",
    "active_days_7d": "active days in the last 7 days",
    "active_days_30d": "active days in the last 30 days",
    "active_days_90d": "active days in the last 90 days",
    "active_days_365d": "active days in the last 365 days",
    "active_rate_365d": "share of the days since registration (at most 365) with activity",
    "activity_trend": "active days in the last 30 days minus the 30 before them",
    "days_since_app_open": "days since the app was last opened",
    "app_opens_30d": "app opens in the last 30 days",
    "searches_30d": "searches in the last 30 days",
    "days_since_search": "days since the last search",
    "message_opens_30d": "messages opened in the last 30 days",
    "searched_no_consult_30d": "searched in the last 30 days without a consultation (0/1)",
    "consults_90d": "consultations in the last 90 days",
    "days_since_consult": "days since the last consultation",
    "late_replies_90d": "consultations in 90 days whose first reply exceeded the SLA",
    "last_consult_late": "the last consultation's first reply exceeded the SLA (0/1)",
    "low_ratings_90d": "consultations rated 1–2 in the last 90 days",
    "paid_orders_365d": "paid orders in the last 365 days",
    "spend_365d": "paid spend (yuan) in the last 365 days",
    "days_since_order": "days since the last paid order",
    "refunds_90d": "refunded orders in the last 90 days",
    "failed_payments_90d": "failed payments in the last 90 days",
    "complaints_90d": "complaint tickets in the last 90 days",
    "service_issues_recent": "complaints about the service (not payment), decayed by DECAY per day",
    "payment_issues_recent": "payment complaints and failed payments, decayed by DECAY per day",
    "good_consults_recent": "consultations rated 4–5, decayed by DECAY per day",
    "drug_orders_recent": "paid drug orders (refills), decayed by DECAY per day",
    "entitlement_uses_recent": "package entitlement uses, decayed by DECAY per day",
    "days_since_complaint": "days since the last complaint ticket",
    "tickets_90d": "service tickets of any kind in the last 90 days",
    "nps_min_90d": "lowest NPS answer in the last 90 days",
    "enrolled": "holds a service package running at the as-of date (0/1)",
    "package_days_left": "days until the running package ends",
    "entitlement_uses_90d": "package entitlement uses in the last 90 days",
    "days_since_entitlement_use": "days since the last package entitlement use",
    "chronic": "has a chronic condition (the `chronic` tag, 0/1)",
    "age": "age in whole years (the `age` tag)",
    "uncontrolled_share_90d": "share of blood-pressure (systolic ≥ 140) and glucose (≥ 7.8 "
    "mmol/L) readings above target in the last 90 days",
    "last_department": "department of the last consultation (category)",
    "sex": "sex (category)",
    "channel": "acquisition channel (category)",
}
CATEGORICAL: tuple[str, ...] = ("sex", "channel", "last_department")
#: daily decay of the "…_recent" scores (a fact 23 days old counts half)
DECAY = 0.97
#: how far back the decayed scores look (0.97^180 < 0.5 %)
W_DECAY = 180
#: above target (hypertension < 140 mmHg systolic; glucose ≥ 7.8 mmol/L)
SYSTOLIC_HIGH, GLUCOSE_HIGH = 140.0, 7.8
SYSTOLIC, GLUCOSE_CODES = "8480-6", ("2339-0", "2345-7", "15074-8", "14749-6")


@dataclass(frozen=True)
class Encoding:
    """Integer codes of the categorical features, fixed at training and reused when scoring
    (a value unseen at training gets code -1, which LightGBM treats as missing)."""

    codes: dict[str, list[str]]

    @classmethod
    def fit(cls, raw: dict[str, np.ndarray]) -> Encoding:
        return cls(
            {c: sorted({str(v) for v in raw[c] if v is not None}) for c in CATEGORICAL if c in raw}
        )

    def encode(self, name: str, values: np.ndarray) -> np.ndarray:
        index = {v: i for i, v in enumerate(self.codes[name])}
        return np.array([index.get(str(v), -1) if v is not None else -1 for v in values], float)


@dataclass(frozen=True)
class FeatureFrame:
    """Features of every patient as of a date: `user_id` and raw columns (numpy)."""

    as_of: date
    user_id: np.ndarray
    raw: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.user_id)

    def subset(self, keep: np.ndarray) -> FeatureFrame:
        """The rows selected by `keep` (a boolean mask or indices)."""
        return FeatureFrame(
            self.as_of, self.user_id[keep], {k: v[keep] for k, v in self.raw.items()}
        )

    def matrix(self, encoding: Encoding, names: list[str] | None = None) -> np.ndarray:
        """The float matrix in `names` order (default `FEATURES`), nulls as NaN."""
        cols = []
        for name in names or list(FEATURES):
            if name in CATEGORICAL:
                cols.append(encoding.encode(name, self.raw[name]))
            else:
                cols.append(np.asarray(self.raw[name], dtype=float))
        return np.column_stack(cols) if cols else np.empty((len(self), 0))


def _days_since(frame: AsOf, last_dn: ir.IntegerValue) -> ir.IntegerValue:
    return ibis.literal(frame.day_number_lit(0)) - last_dn


def _flag(cond: ir.BooleanValue) -> ir.IntegerValue:
    """0/1 (null = 0); a CASE, as PostgreSQL cannot cast a boolean to a small integer."""
    return cond.fill_null(False).ifelse(1, 0)


def _decayed(frame: AsOf, dn: ir.IntegerValue) -> ir.FloatingValue:
    """DECAY ** (days before as_of) of a fact on local day `dn` (as exp, on every backend)."""
    age = ibis.literal(frame.day_number_lit(0)) - dn
    return (age.cast("float64") * float(np.log(DECAY))).exp()


def feature_query(frame: AsOf, user_ids: list[str] | None = None) -> ir.Table:
    """The feature table as one Ibis expression (see the module docstring); with `user_ids`,
    only those patients (the filter is on the patients table, so the engine pushes it down)."""
    s = frame.settings
    today_dn = ibis.literal(frame.day_number_lit(0))

    def since(t: ir.Table, ts: str, days: int) -> ir.BooleanValue:
        return frame.since(t[ts], days)

    # activity: distinct active days
    act = frame.active_days(since=frame.days_before(W_YEAR * 5))
    act = act.group_by("user_id").aggregate(
        last_active_dn=act.dn.max(),
        a7=act.dn.nunique(where=act.dn >= frame.day_number_lit(W_SHORT)),
        a30=act.dn.nunique(where=act.dn >= frame.day_number_lit(W_MONTH)),
        a90=act.dn.nunique(where=act.dn >= frame.day_number_lit(W_QUARTER)),
        a60=act.dn.nunique(where=act.dn >= frame.day_number_lit(2 * W_MONTH)),
        a365=act.dn.nunique(where=act.dn >= frame.day_number_lit(W_YEAR)),
    )
    # app events
    e = frame.facts("events", "ts")
    e = e.mutate(dn=frame.day_number(e.ts))
    is_open, is_search = e.name == "app_open", e.name == "search"
    ev = e.group_by("user_id").aggregate(
        last_open_dn=e.dn.max(where=is_open),
        opens30=e.count(where=is_open & since(e, "ts", W_MONTH)),
        searches30=e.count(where=is_search & since(e, "ts", W_MONTH)),
        last_search_dn=e.dn.max(where=is_search),
        msg_opens30=e.count(where=(e.name == "message_open") & since(e, "ts", W_MONTH)),
    )
    # consultations
    c = frame.facts("consultations", "started_at")
    late = c.first_reply_s > s.metrics.first_reply_sla_s
    cq = since(c, "started_at", W_QUARTER)
    co = c.group_by("user_id").aggregate(
        consults90=c.count(where=cq),
        consults30=c.count(where=since(c, "started_at", W_MONTH)),
        last_consult_ts=c.started_at.max(),
        last_late_ts=c.started_at.max(where=late),
        late90=c.count(where=cq & late),
        low90=c.count(where=cq & (c.rating <= 2)),
        good_recent=_decayed(frame, frame.day_number(c.started_at)).sum(
            where=(c.rating >= 4) & since(c, "started_at", W_DECAY)
        ),
    )
    # the department of the last consultation (ties: the greatest name, deterministic)
    last_ts = c.group_by("user_id").aggregate(lts=c.started_at.max())
    last_c = c.join(last_ts, (c.user_id == last_ts.user_id) & (c.started_at == last_ts.lts)).select(
        c.user_id, c.department
    )
    dept = last_c.group_by("user_id").aggregate(last_department=last_c.department.max())
    # orders
    o = frame.facts("orders", "ts")
    paid = o.status == "paid"
    oq = since(o, "ts", W_QUARTER)
    od = o.group_by("user_id").aggregate(
        paid365=o.count(where=paid & since(o, "ts", W_YEAR)),
        spend365=o.amount_cny.sum(where=paid & since(o, "ts", W_YEAR)).cast("float64"),
        last_paid_dn=frame.day_number(o.ts).max(where=paid),
        refunds90=o.count(where=oq & (o.status == "refunded")),
        failed90=o.count(where=oq & (o.status == "failed")),
        failed_recent=_decayed(frame, frame.day_number(o.ts)).sum(
            where=(o.status == "failed") & since(o, "ts", W_DECAY)
        ),
        drug_recent=_decayed(frame, frame.day_number(o.ts)).sum(
            where=paid & (o.category == "drug") & since(o, "ts", W_DECAY)
        ),
    )
    # tickets and surveys
    t = frame.facts("tickets", "ts")
    tq = since(t, "ts", W_QUARTER)
    complaint = t.kind == "complaint"
    tk = t.group_by("user_id").aggregate(
        complaints90=t.count(where=tq & complaint),
        last_complaint_dn=frame.day_number(t.ts).max(where=complaint),
        tickets90=t.count(where=tq),
        service_recent=_decayed(frame, frame.day_number(t.ts)).sum(
            where=complaint & (t.reason.fill_null("") != PAYMENT_REASON) & since(t, "ts", W_DECAY)
        ),
        pay_complaint_recent=_decayed(frame, frame.day_number(t.ts)).sum(
            where=complaint & (t.reason == PAYMENT_REASON) & since(t, "ts", W_DECAY)
        ),
    )
    sv = frame.facts("surveys", "ts")
    sv = sv.filter((sv.kind == "nps") & since(sv, "ts", W_QUARTER))
    nps = sv.group_by("user_id").aggregate(nps_min=sv.score.min())
    # packages: running at the cut-off, entitlement use
    en = frame.facts("enrollments", "start_at")
    cut = frame.instant(en.end_at, frame.cutoff)
    running = en.end_at.isnull() | (en.end_at >= cut)
    en = en.filter(running)
    pk = en.group_by("user_id").aggregate(pkg_end_dn=frame.day_number(en.end_at).max())
    u = frame.facts("entitlement_usage", "ts")
    us = u.group_by("user_id").aggregate(
        uses90=u.count(where=since(u, "ts", W_QUARTER)),
        last_use_dn=frame.day_number(u.ts).max(),
        uses_recent=_decayed(frame, frame.day_number(u.ts)).sum(where=since(u, "ts", W_DECAY)),
    )
    # readings above target (poorly controlled blood pressure or glucose)
    ob = frame.facts("observations", "ts")
    ob = ob.filter(since(ob, "ts", W_QUARTER) & ob.code.isin((SYSTOLIC, *GLUCOSE_CODES)))
    high = ((ob.code == SYSTOLIC) & (ob.value >= SYSTOLIC_HIGH)) | (
        (ob.code != SYSTOLIC) & (ob.value >= GLUCOSE_HIGH)
    )
    obs = ob.group_by("user_id").aggregate(readings=ob.count(), high_readings=ob.count(where=high))
    # patients and the static tags
    p = frame.facts("patients", "registered_at")
    if user_ids is not None:
        p = p.filter(p.user_id.isin(list(user_ids)))
    p = p.select(
        pid=p.user_id,
        reg_dn=frame.day_number(p.registered_at),
        sex=ibis.coalesce(p.sex, "U"),
        channel=ibis.coalesce(p.source_channel, "unknown"),
    )
    tags = tag_frame(frame.con, frame.as_of, ["age", "chronic"], settings=s)
    tags = tags.select(tid=tags.user_id, age=tags.age, chronic=tags.chronic)

    j = p
    for part, key in (
        (tags, "tid"),
        (act, "user_id"),
        (ev, "user_id"),
        (co, "user_id"),
        (od, "user_id"),
        (tk, "user_id"),
        (nps, "user_id"),
        (pk, "user_id"),
        (us, "user_id"),
        (obs, "user_id"),
        (dept, "user_id"),
    ):
        j = j.left_join(part, p.pid == part[key]).select(
            *j.columns, *(c for c in part.columns if c not in (key, "user_id"))
        )

    def n(col: ir.Value) -> ir.Value:
        return col.fill_null(0)

    consult_dn = frame.day_number(j.last_consult_ts)
    enrolled = j.pkg_end_dn.notnull()
    return j.select(
        user_id=j.pid,
        registered_days=today_dn - j.reg_dn,
        days_since_active=today_dn - j.last_active_dn,
        active_days_7d=n(j.a7),
        active_days_30d=n(j.a30),
        active_days_90d=n(j.a90),
        active_days_365d=n(j.a365),
        active_rate_365d=n(j.a365).cast("float64")
        / ibis.greatest(ibis.least(today_dn - j.reg_dn, W_YEAR), 1).cast("float64"),
        activity_trend=2 * n(j.a30) - n(j.a60),
        days_since_app_open=today_dn - j.last_open_dn,
        app_opens_30d=n(j.opens30),
        searches_30d=n(j.searches30),
        days_since_search=today_dn - j.last_search_dn,
        message_opens_30d=n(j.msg_opens30),
        searched_no_consult_30d=_flag((n(j.searches30) > 0) & (n(j.consults30) == 0)),
        consults_90d=n(j.consults90),
        days_since_consult=today_dn - consult_dn,
        late_replies_90d=n(j.late90),
        last_consult_late=_flag(j.last_late_ts.notnull() & (j.last_late_ts == j.last_consult_ts)),
        low_ratings_90d=n(j.low90),
        paid_orders_365d=n(j.paid365),
        spend_365d=n(j.spend365),
        days_since_order=today_dn - j.last_paid_dn,
        refunds_90d=n(j.refunds90),
        failed_payments_90d=n(j.failed90),
        complaints_90d=n(j.complaints90),
        service_issues_recent=n(j.service_recent),
        payment_issues_recent=n(j.pay_complaint_recent) + n(j.failed_recent),
        good_consults_recent=n(j.good_recent),
        drug_orders_recent=n(j.drug_recent),
        entitlement_uses_recent=n(j.uses_recent),
        days_since_complaint=today_dn - j.last_complaint_dn,
        tickets_90d=n(j.tickets90),
        nps_min_90d=j.nps_min,
        enrolled=_flag(enrolled),
        package_days_left=j.pkg_end_dn - today_dn,
        entitlement_uses_90d=n(j.uses90),
        days_since_entitlement_use=today_dn - j.last_use_dn,
        chronic=_flag(j.chronic),
        age=j.age,
        uncontrolled_share_90d=j.high_readings.cast("float64") / j.readings.cast("float64"),
        last_department=ibis.coalesce(j.last_department, "none"),
        sex=j.sex,
        channel=j.channel,
    )


def load_features(
    con: BaseBackend,
    as_of: date,
    settings: Settings | None = None,
    user_ids: list[str] | None = None,
) -> FeatureFrame:
    """Run `feature_query` and return the features as numpy columns, sorted by user (with
    `user_ids`, only those patients registered before the cut-off)."""
    frame = AsOf(con, as_of, settings or get_settings())
    table: pa.Table = feature_query(frame, user_ids).order_by("user_id").to_pyarrow()
    raw: dict[str, np.ndarray] = {}
    for name in FEATURES:
        col = table.column(name)
        if name in CATEGORICAL:
            raw[name] = np.array(col.to_pylist(), dtype=object)
        else:
            raw[name] = col.cast(pa.float64()).to_numpy(zero_copy_only=False)
    return FeatureFrame(as_of, np.array(table.column("user_id").to_pylist(), dtype=object), raw)
