"""A hand-built hospital whose metric values are known, one time slice per metric family.

Each family lives in its own period so that its window sees only its own rows; the expected
values are worked out by hand in the comments (dates are hospital-local, Asia/Shanghai,
UTC+8; `L()` converts to the UTC instants the warehouse stores).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pyarrow as pa

from careops.schema import TABLES

SH = timedelta(hours=8)


def L(y: int, m: int, d: int, h: int = 12, mi: int = 0) -> datetime:
    """Hospital-local wall time → UTC instant."""
    return (datetime(y, m, d, h, mi) - SH).replace(tzinfo=UTC)


# -- as-of dates of the slices ----------------------------------------------------------------
AS_OF_RETENTION = date(2026, 3, 1)
AS_OF_SILENT = date(2025, 4, 1)
AS_OF_CONVERSION = date(2025, 7, 1)
AS_OF_REFERRAL = date(2025, 9, 1)
AS_OF_EXPERIENCE = date(2025, 11, 1)
AS_OF_MEDICAL = date(2025, 5, 1)
AS_OF_VALUE = date(2026, 1, 1)
FIRST_REGISTRATION = date(2024, 6, 1)

patients: list[dict] = []
events: list[dict] = []
consultations: list[dict] = []
orders: list[dict] = []
encounters: list[dict] = []
surveys: list[dict] = []
tickets: list[dict] = []
prescriptions: list[dict] = []
observations: list[dict] = []
enrollments: list[dict] = []
usage: list[dict] = []
spend: list[dict] = []


def patient(uid, reg, channel="organic", sex="U", referrer=None, birth=None):
    patients.append(
        dict(
            user_id=uid,
            registered_at=reg,
            source_channel=channel,
            sex=sex,
            referrer_id=referrer,
            birth_date=birth,
        )
    )


def event(uid, ts, name="app_open", **props):
    events.append(
        dict(
            event_id=f"ev{len(events)}",
            user_id=uid,
            ts=ts,
            name=name,
            properties=json.dumps(props) if props else None,
        )
    )


def consult(uid, ts, mode="text", reply=None):
    consultations.append(
        dict(
            consultation_id=f"c{len(consultations)}",
            user_id=uid,
            started_at=ts,
            mode=mode,
            first_reply_s=reply,
        )
    )


def order(uid, ts, amount, status="paid", category="consultation"):
    orders.append(
        dict(
            order_id=f"o{len(orders)}",
            user_id=uid,
            ts=ts,
            amount_cny=amount,
            status=status,
            category=category,
        )
    )


# -- retention (as_of 2026-03-01) -------------------------------------------------------------
# a1..a4 registered 2026-02-10 (day 0). D7 = day 2026-02-17 local.
#   a1: active day 1 and day 7 (23:30 local)         -> D1 yes, D7 yes
#   a2: active 2026-02-17 00:30 local (UTC: Feb 16)  -> D7 yes only on the hospital calendar
#   a3: active day 8                                  -> no
#   a4: never active                                  -> no
# D7 = 2/4, D1 = 1/4; by sex: M (a1, a2) 1.0, F (a3, a4) 0.0.
for uid, sex in (("a1", "M"), ("a2", "M"), ("a3", "F"), ("a4", "F")):
    patient(uid, L(2026, 2, 10, 10), "douyin", sex, birth=date(1990, 1, 1))
event("a1", L(2026, 2, 11, 9))
event("a1", L(2026, 2, 17, 23, 30))
event("a2", L(2026, 2, 17, 0, 30))
event("a3", L(2026, 2, 18, 12))
# c1, c2 registered 2026-01-05; c1 active on day 30 (2026-02-04), c2 on day 29 -> D30 = 1/2.
patient("c1", L(2026, 1, 5), birth=date(1950, 5, 5))
patient("c2", L(2026, 1, 5), birth=date(2015, 5, 5))
event("c1", L(2026, 2, 4))
event("c2", L(2026, 2, 3))
# MAU over [2026-01-30, 2026-03-01): a1, a2, a3, c1, c2 = 5; active days 2+1+1+1+1 = 6.

# -- silent-user recall (as_of 2025-04-01, window 30 -> reference day 2025-03-02) -------------
# s1 last active 2025-01-15 (46 days idle: silent), back 2025-03-10 -> recalled
# s2 last active 2025-01-20 (41 days: silent), not back
# s3 last active 2024-11-01 (121 days: churned, not silent), back 2025-03-15
# s4 last active 2025-02-20 (10 days: not silent)               -> recall = 1/2
for uid in ("s1", "s2", "s3", "s4"):
    patient(uid, L(2024, 10, 1))
event("s1", L(2025, 1, 15))
event("s1", L(2025, 3, 10))
event("s2", L(2025, 1, 20))
event("s3", L(2024, 11, 1))
event("s3", L(2025, 3, 15))
event("s4", L(2025, 2, 20))

# -- conversion (as_of 2025-07-01, window [2025-06-01, 2025-07-01)) --------------------------
# Funnel register -> search -> consult -> pay -> repurchase, 30-day conversion window,
# entries registered in [2025-05-02, 2025-06-01): p1..p5 on 2025-05-10 10:00.
#   p1: search, consult, pay, repurchase          -> all five steps
#   p2: search, consult, pay; second order refunded -> stops at pay
#   p3: consult BEFORE search, pay after search but no consult after it -> stops at search
#   p4: search after the 30-day window            -> register only
#   p5: nothing                                   -> register only
# steps 5, 3, 2, 2, 1; dropped 2, 1, 0, 1.
for uid in ("p1", "p2", "p3", "p4", "p5"):
    patient(uid, L(2025, 5, 10, 10), "baidu")
event("p1", L(2025, 5, 11), "search", query="高血压")
consult("p1", L(2025, 5, 12))
order("p1", L(2025, 5, 12, 13), 100.0)
order("p1", L(2025, 5, 20), 50.0)
event("p2", L(2025, 5, 11), "search", query="失眠")
consult("p2", L(2025, 5, 13))
order("p2", L(2025, 5, 13, 13), 80.0)
order("p2", L(2025, 5, 14), 80.0, status="refunded")
consult("p3", L(2025, 5, 11))
event("p3", L(2025, 5, 12, 9), "search", query="头痛")
order("p3", L(2025, 5, 12, 13), 30.0)
event("p4", L(2025, 6, 15), "search", query="发热")
# In the window: active p1 (app_open, text consult, paid 60), p2 (offline consult, failed
# order), p3 (app_open; encounter), p4 (search) = 4 active users; p5 inactive.
# consult rate 2/4, booking rate 2/4 (p2 offline, p3 encounter), paid conversion 1/4,
# ARPU 60/4 = 15. Repurchase over [2024-07-01, 2025-07-01): p1 (3 paid), p2 (1), p3 (1) -> 1/3.
event("p1", L(2025, 6, 5))
consult("p1", L(2025, 6, 5, 14))
order("p1", L(2025, 6, 5, 15), 60.0)
event("p2", L(2025, 6, 10))
consult("p2", L(2025, 6, 10, 14), mode="offline")
order("p2", L(2025, 6, 10, 15), 30.0, status="failed")
event("p3", L(2025, 6, 20))
encounters.append(
    dict(
        encounter_id="en1",
        user_id="p3",
        start_at=L(2025, 6, 21),
        end_at=L(2025, 6, 21, 13),
        **{"class": "AMB"},
    )
)

# -- referral (as_of 2025-09-01, window [2025-08-02, 2025-09-01)) ---------------------------
# r1 invites i1, i2, i3 (i1 twice: one invite); i1 and i2 register with referrer r1.
# i1 invites j1, j2; j1 registers with referrer i1, j2 with referrer r1 (not i1's).
# active: r1, i1, i2, j1, j2 = 5; invites 3 + 2 = 5; converted i1, i2, j1 = 3.
# invites/user 1.0, conversion 0.6, K = 0.6; share rate (share or invite) r1, i1, i2 = 3/5.
patient("r1", L(2025, 7, 1))
event("r1", L(2025, 8, 5), "share", content_id="k1")
event("r1", L(2025, 8, 5, 13), "invite", invitee_id="i1")
event("r1", L(2025, 8, 5, 14), "invite", invitee_id="i2", channel="wechat")
event("r1", L(2025, 8, 5, 15), "invite", invitee_id="i3")
event("r1", L(2025, 8, 6), "invite", invitee_id="i1")
patient("i1", L(2025, 8, 7), "referral", referrer="r1")
patient("i2", L(2025, 8, 8), "referral", referrer="r1")
event("i1", L(2025, 8, 10), "invite", invitee_id="j1")
event("i1", L(2025, 8, 10, 13), "invite", invitee_id="j2")
event("i2", L(2025, 8, 9), "share")
patient("j1", L(2025, 8, 12), "referral", referrer="i1")
patient("j2", L(2025, 8, 12), "referral", referrer="r1")
event("j1", L(2025, 8, 13))
event("j2", L(2025, 8, 13))

# -- experience (as_of 2025-11-01, window [2025-10-02, 2025-11-01)) -------------------------
# NPS scores 10, 9, 9, 8, 6, 3 -> 3 promoters, 2 detractors of 6 -> 100/6 = 16.667
# (a 0 on 2025-09-20 is outside the window). CSAT 5, 4, 3, 2 -> 2/4.
# Online first replies 30, 600, 601, 1200 s -> within 600 s: 2/4; mean 607.75 s.
# Complaints 1 (a question ticket does not count) / 5 consultations = 0.2.
patient("e1", L(2025, 9, 20))
patient("e2", L(2025, 9, 20))
for i, score in enumerate((10, 9, 9, 8, 6, 3)):
    surveys.append(
        dict(
            response_id=f"n{i}",
            user_id=("e1", "e2")[i % 2],
            ts=L(2025, 10, 10 + i),
            kind="nps",
            score=float(score),
        )
    )
surveys.append(dict(response_id="n_old", user_id="e1", ts=L(2025, 9, 20), kind="nps", score=0.0))
for i, score in enumerate((5, 4, 3, 2)):
    surveys.append(
        dict(
            response_id=f"s{i}",
            user_id="e1",
            ts=L(2025, 10, 20 + i),
            kind="csat",
            score=float(score),
        )
    )
consult("e1", L(2025, 10, 5), reply=30.0)
consult("e1", L(2025, 10, 6), reply=600.0)
consult("e1", L(2025, 10, 7), reply=601.0)
consult("e2", L(2025, 10, 8), mode="video", reply=1200.0)
consult("e2", L(2025, 10, 9), mode="offline")
tickets.append(dict(ticket_id="t1", user_id="e1", ts=L(2025, 10, 8), kind="complaint"))
tickets.append(dict(ticket_id="t2", user_id="e2", ts=L(2025, 10, 8), kind="question"))

# -- medical (as_of 2025-05-01) ---------------------------------------------------------------
# PDC window 180 days: 2024-11-02 (day 0) .. 2025-04-30 (day 179).
#   m1: 90 days from day 0, 60 from day 60 -> covered 0..119 = 120 / 180 = 0.667
#   m2: 30 from 2024-10-20 (day -13, carries 17 days in), 90 from day 18, 90 from day 108
#       -> 17 + 90 + 72 = 179 / 180 = 0.994 (adherent)
#   m3: 30 from day 120 -> 30 / (180 - 120) = 0.5
#   m4: a 0-day supply and a prescription after as_of -> not counted
# adherence (PDC >= 0.8) 1/3; mean PDC (0.6667 + 0.99444 + 0.5) / 3 = 0.72037.
for uid in ("m1", "m2", "m3", "m4"):
    patient(uid, L(2024, 6, 1), "hospital_offline")
for uid, ts, days in (
    ("m1", L(2024, 11, 2, 10), 90),
    ("m1", L(2025, 1, 1), 60),
    ("m2", L(2024, 10, 20), 30),
    ("m2", L(2024, 11, 20), 90),
    ("m2", L(2025, 2, 18), 90),
    ("m3", L(2025, 3, 2), 30),
    ("m4", L(2025, 3, 2), 0),
    ("m4", L(2025, 5, 1, 9), 30),
):
    prescriptions.append(
        dict(
            prescription_id=f"rx{len(prescriptions)}",
            user_id=uid,
            ts=ts,
            days_supply=days,
            drug_code="C09AA02",
        )
    )
# BP (last reading in the year): m1 135/85 ok; m2 138/92 no; m3 139.9/89.9 ok (a 160 at
# 00:30 on as_of itself is after the cut-off); m4 140/80 no (140 is not < 140) -> 2/4.
# Glucose: m1 6.5 ok; m2 8.0 then 6.9 ok; m3 7.0 no -> 2/3.
for uid, ts, sbp, dbp in (
    ("m1", L(2025, 1, 10), 150, 95),
    ("m1", L(2025, 4, 10), 135, 85),
    ("m2", L(2025, 4, 1), 138, 92),
    ("m3", L(2025, 4, 5), 139.9, 89.9),
    ("m3", L(2025, 5, 1, 0, 30), 160, 100),
    ("m4", L(2025, 4, 6), 140, 80),
):
    for code, value in (("8480-6", sbp), ("8462-4", dbp)):
        observations.append(
            dict(
                observation_id=f"ob{len(observations)}",
                user_id=uid,
                ts=ts,
                code=code,
                value=float(value),
                unit="mm[Hg]",
            )
        )
for uid, ts, code, value in (
    ("m1", L(2025, 3, 1), "2345-7", 6.5),
    ("m2", L(2025, 3, 1), "15074-8", 8.0),
    ("m2", L(2025, 3, 20), "2339-0", 6.9),
    ("m3", L(2025, 3, 1), "14749-6", 7.0),
):
    observations.append(
        dict(
            observation_id=f"ob{len(observations)}",
            user_id=uid,
            ts=ts,
            code=code,
            value=value,
            unit="mmol/L",
        )
    )
# Packages. Activation with window 150: mature starts in [2024-09-03, 2025-01-31):
#   k1 (m1, 2024-12-01): 5 uses by day 88 -> activated; k2 (m2): 5th use on day 90 -> not;
#   k7 (m3, 2024-12-15): no uses -> not; k3 (2025-03-01) not mature -> 1/3.
# Renewal (window 365, grace 30): ended in [2024-05-01, 2025-04-01), not cancelled:
#   k4 (m1 htn_year, ends 2024-12-31) renewed by k1 (same package, starts before end+30)
#   k5 (m2 dm_3m, ends 2024-08-01) not renewed
#   k6 (m3 dm_3m, ends 2024-09-01) renewed by k7 through renewal_of (starts too late else)
#   k7 (m3 dm_3m, ends 2025-03-15) not renewed (k3 is another package); k8 cancelled -> 2/4
for eid, uid, pkg, start, end, status, of in (
    ("k1", "m1", "htn_year", L(2024, 12, 1), L(2025, 11, 30), "active", None),
    ("k2", "m2", "htn_year", L(2024, 12, 1), L(2025, 11, 30), "active", None),
    ("k3", "m3", "htn_year", L(2025, 3, 1), L(2026, 3, 1), "active", None),
    ("k4", "m1", "htn_year", L(2024, 1, 1), L(2024, 12, 31), "expired", None),
    ("k5", "m2", "dm_3m", L(2024, 2, 1), L(2024, 8, 1), "expired", None),
    ("k6", "m3", "dm_3m", L(2024, 3, 1), L(2024, 9, 1), "expired", None),
    ("k7", "m3", "dm_3m", L(2024, 12, 15), L(2025, 3, 15), "expired", "k6"),
    ("k8", "m4", "dm_3m", L(2024, 6, 1), L(2024, 10, 1), "cancelled", None),
):
    enrollments.append(
        dict(
            enrollment_id=eid,
            user_id=uid,
            package_id=pkg,
            start_at=start,
            end_at=end,
            status=status,
            renewal_of=of,
        )
    )
for eid, uid, days in (("k1", "m1", (0, 9, 19, 35, 88)), ("k2", "m2", (0, 9, 19, 35, 90))):
    for d in days:
        usage.append(
            dict(
                usage_id=f"us{len(usage)}",
                enrollment_id=eid,
                user_id=uid,
                ts=L(2024, 12, 1, 15) + timedelta(days=d),
                entitlement="consultation",
            )
        )

# -- value and acquisition (as_of 2026-01-01, CAC window [2025-12-02, 2026-01-01)) ----------
# new users: v_douyin v1..v3, v_baidu v4, v_organic v5 -> 5
# spend in window: v_douyin 1000 + 500, v_baidu 600, v_wechat 300 (brought nobody)
#   CAC: v_douyin 500, v_baidu 600, v_organic 0; blended (1500 + 600) / 5 = 420
# lifetime spend adds v_douyin 1500 on 2025-11-01 -> 3000 / 3 users = 1000 per user
# LTV: v_douyin (300 + 1000 + 0) / 3, v_baidu 1200, v_organic 100 (v1's refund excluded)
# ROI: v_douyin (1300 - 3000) / 3000, v_baidu (1200 - 600) / 600 = 1, v_organic undefined
for uid, channel, day in (
    ("v1", "v_douyin", 6),
    ("v2", "v_douyin", 6),
    ("v3", "v_douyin", 6),
    ("v4", "v_baidu", 11),
    ("v5", "v_organic", 12),
):
    patient(uid, L(2025, 12, day), channel)
for d, channel, amount in (
    (date(2025, 12, 5), "v_douyin", 1000.0),
    (date(2025, 12, 20), "v_douyin", 500.0),
    (date(2025, 12, 10), "v_baidu", 600.0),
    (date(2025, 12, 10), "v_wechat", 300.0),
    (date(2025, 11, 1), "v_douyin", 1500.0),
):
    spend.append(dict(date=d, channel=channel, amount_cny=amount, new_users=0))
order("v1", L(2025, 12, 7), 300.0)
order("v1", L(2025, 12, 8), 200.0, status="refunded")
order("v2", L(2025, 12, 7), 1000.0)
order("v4", L(2025, 12, 12), 1200.0)
order("v5", L(2025, 12, 13), 100.0)
order("v5", L(2026, 1, 1, 1), 999.0)  # 01:00 on as_of: after the cut-off
# precise reach: delivered to v1 (in target), v2 (not), v3 (in target), v4 (no flag) -> 2/3
event("v1", L(2025, 12, 20), "message_delivered", in_target=True)
event("v2", L(2025, 12, 20), "message_delivered", in_target=False)
event("v3", L(2025, 12, 20), "message_delivered", in_target=True)
event("v4", L(2025, 12, 20), "message_delivered", campaign="c1")


def _table(name: str, rows: list[dict]) -> pa.Table:
    schema = TABLES[name].arrow_schema()
    return pa.Table.from_pylist([{f: r.get(f) for f in schema.names} for r in rows], schema=schema)


def tables() -> dict[str, pa.Table]:
    """The hand-built hospital as Arrow tables of the canonical shapes."""
    return {
        "patients": _table("patients", patients),
        "events": _table("events", events),
        "consultations": _table("consultations", consultations),
        "orders": _table("orders", orders),
        "encounters": _table("encounters", encounters),
        "surveys": _table("surveys", surveys),
        "tickets": _table("tickets", tickets),
        "prescriptions": _table("prescriptions", prescriptions),
        "observations": _table("observations", observations),
        "enrollments": _table("enrollments", enrollments),
        "entitlement_usage": _table("entitlement_usage", usage),
        "marketing_spend": _table("marketing_spend", spend),
    }


def paid_revenue_before(day: date) -> float:
    """Independent check for lifetime LTV/ROI: paid order amounts before `day` 00:00 local."""
    cut = L(day.year, day.month, day.day, 0)
    return sum(o["amount_cny"] for o in orders if o["status"] == "paid" and o["ts"] < cut)


def patients_before(day: date) -> int:
    cut = L(day.year, day.month, day.day, 0)
    return sum(1 for p in patients if p["registered_at"] < cut)
