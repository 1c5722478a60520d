"""Clinical tables: consultations, prescriptions, offline visits, device readings, conditions,
surveys and tickets — plus the orders and app events that go with consultations."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.context import Chunk
from careops.sim.engine import DRUG_CODES
from careops.sim.population import CONDITION_CODES

DEPTS = vocab.DEPARTMENT_NAMES
MODES = ("text", "video", "phone")
ORDER_CATEGORIES = ("consultation", "drug", "checkup", "package", "device", "other")
ORDER_STATUS = ("paid", "refunded", "failed", "cancelled")


@dataclass
class Parts:
    """Rows for tables several builders contribute to (orders, events, tickets)."""

    orders: list[dict] = field(default_factory=list)
    events: list[dict] = field(default_factory=list)
    tickets: list[dict] = field(default_factory=list)

    def order(self, u, ts, category: str, sku: pa.Array, amount, status) -> None:
        self.orders.append(
            {
                "u": u,
                "ts": ts,
                "cat": np.full(len(u), ORDER_CATEGORIES.index(category)),
                "sku": sku,
                "amount": np.asarray(amount, float),
                "status": np.asarray(status, np.int64),
            }
        )

    def ticket(self, u, ts, kind: str, reason: str) -> None:
        self.tickets.append({"u": u, "ts": ts, "kind": kind, "reason": reason})


def _flat(per_dept: list[tuple]) -> tuple[list, np.ndarray, np.ndarray]:
    """Flatten per-department tuples: (values, offsets, counts)."""
    vals, off, cnt = [], [], []
    for t in per_dept:
        off.append(len(vals))
        cnt.append(len(t))
        vals.extend(t)
    return vals, np.array(off), np.array(cnt)


COMPLAINTS, C_OFF, C_CNT = _flat([vocab.DEPARTMENTS[d].complaints for d in DEPTS])
DIAGS, D_OFF, D_CNT = _flat([vocab.DEPARTMENTS[d].diagnoses for d in DEPTS])
DDRUGS, R_OFF, R_CNT = _flat([vocab.DEPARTMENTS[d].drugs for d in DEPTS])


def _choose(rng: np.random.Generator, off: np.ndarray, cnt: np.ndarray, dept: np.ndarray):
    return off[dept] + (rng.random(len(dept)) * cnt[dept]).astype(np.int64)


def consultations(ch: Chunk, parts: Parts) -> dict[str, pa.Table]:
    """Consultations with their orders, prescriptions, refills, visits, surveys and tickets."""
    c, rng, w = ch.trace.consults, ch.rng, ch.world
    n = len(c.get("u", []))
    if n == 0:
        c = {
            k: np.array([], np.int64)
            for k in (
                "u",
                "t",
                "dept",
                "followup",
                "late",
                "reply",
                "failed",
                "rating",
                "c_late",
                "c_fail",
                "rx",
                "rx_chronic",
                "visit",
                "refills",
            )
        }
    u, t, dept = c["u"], c["t"], c["dept"]
    sod = ch.sod(u, t)
    start = ch.ts(t, sod + 600)
    # follow-ups return to "their" doctor; episodes pick any doctor of the department
    own = w.dept_doctor_start[dept] + (ch.pop.offset + u) % w.dept_doctor_count[dept]
    doc = np.where(c["followup"] == 1, own, ch.doctor_in(dept))
    price = w.doctor_price[doc]
    cid = ch.ids("C", n)
    cons = au.table(
        "consultations",
        {
            "consultation_id": cid,
            "user_id": ch.uid(u),
            "doctor_id": au.take(list(w.doctor_ids), doc),
            "department": au.take(DEPTS, dept),
            "started_at": au.ts_array(start),
            "first_reply_s": np.round(c["reply"].astype(float), 1),
            "mode": au.take(MODES, rng.choice(3, n, p=[0.75, 0.15, 0.1])),
            "diagnosis_code": au.take(
                [d[0] for d in DIAGS],
                np.where(c["followup"] == 1, D_OFF[dept], _choose(rng, D_OFF, D_CNT, dept)),
            ),
            "rating": c["rating"].astype(float),
            "price_cny": price,
            "complaint": au.take(COMPLAINTS, _choose(rng, C_OFF, C_CNT, dept)),
        },
    )
    # payment: a failed attempt first for some, then the paid order
    sku = au.take([f"SVC-CONSULT-{i}" for i in range(len(vocab.TITLES))], w.doctor_title_idx[doc])
    f = c["failed"] == 1
    parts.order(
        u[f],
        start[f] - 240_000_000,
        "consultation",
        sku.filter(pa.array(f)),
        price[f],
        np.full(f.sum(), 2),
    )
    parts.order(u, start - 60_000_000, "consultation", sku, price, np.zeros(n))
    # the search and doctor view that led to the consultation
    parts.events.append(
        {"u": u, "ts": start - 300_000_000, "name": "search", "dept": dept, "doc": doc}
    )
    parts.events.append(
        {"u": u, "ts": start - 200_000_000, "name": "view_doctor", "dept": dept, "doc": doc}
    )
    reply_us = (c["reply"] * 1e6).astype(np.int64)
    cl = c["c_late"] == 1
    parts.ticket(u[cl], start[cl] + reply_us[cl] + 60_000_000, "complaint", "reply_timeout")
    cf = c["c_fail"] == 1
    parts.ticket(u[cf], start[cf] - 120_000_000, "complaint", "payment_failure")
    out = {"consultations": cons}
    out["prescriptions"] = _prescriptions(ch, parts, c, cid, start + reply_us)
    out["encounters"] = _visits(ch, c)
    # CSAT after a consultation: the score is the rating given
    s = rng.random(n) < ch.cfg.survey_csat_p
    out["surveys_csat"] = {
        "u": u[s],
        "ts": start[s] + reply_us[s] + 3_600_000_000,
        "kind": "csat",
        "score": c["rating"][s].astype(float),
    }
    return out


def _prescriptions(ch: Chunk, parts: Parts, c, cid: pa.Array, after: np.ndarray) -> pa.Table:
    rng = ch.rng
    rx = np.flatnonzero(c["rx"] == 1)
    u, dept = c["u"][rx], c["dept"][rx]
    chronic = c["rx_chronic"][rx] == 1
    drug_idx = np.where(
        chronic,
        ch.trace.refill_drug[u].clip(0),
        [DRUG_CODES.index(DDRUGS[i]) for i in _choose(rng, R_OFF, R_CNT, dept)]
        if len(rx)
        else np.array([], np.int64),
    )
    drug_idx = np.asarray(drug_idx, dtype=np.int64)
    info = [vocab.DRUGS[d] for d in DRUG_CODES]
    days = np.where(chronic, 30, np.array([i[2] for i in info])[drug_idx])
    ts = np.minimum(after[rx] + 600_000_000, ch.end_us - 1)
    packs = np.where(chronic, 2, 1)
    price = np.array([i[1] for i in info])[drug_idx] * packs
    refunded = rng.random(len(rx)) < 0.02
    parts.order(
        u,
        ts + 300_000_000,
        "drug",
        au.take([f"DRUG-{d}" for d in DRUG_CODES], drug_idx),
        price,
        np.where(refunded, 1, 0),
    )
    parts.ticket(u[refunded], ts[refunded] + 86_400_000_000, "refund", "refund_request")
    # refills of chronic prescriptions (orders only; the prescription allows them)
    r = ch.trace.refills
    if len(r.get("u", [])):
        rts = ch.ts(r["t"], ch.sod(r["u"], r["t"]))
        parts.order(
            r["u"],
            rts,
            "drug",
            au.take([f"DRUG-{d}" for d in DRUG_CODES], r["drug"]),
            np.array([i[1] for i in info])[r["drug"]] * 2,
            np.zeros(len(r["u"])),
        )
    return au.table(
        "prescriptions",
        {
            "prescription_id": ch.ids("RX", len(rx)),
            "user_id": ch.uid(u),
            "consultation_id": cid.take(pa.array(rx)),
            "ts": au.ts_array(ts),
            "drug_code": au.take(DRUG_CODES, drug_idx),
            "drug_name": au.take([i[0] for i in info], drug_idx),
            "days_supply": days.astype(np.int64),
            "refills": c["refills"][rx].astype(np.int64),
        },
    )


def _visits(ch: Chunk, c) -> pa.Table:
    """Offline visits (class AMB) some consultations lead to, within two weeks if in window."""
    rng = ch.rng
    v = np.flatnonzero(c["visit"] == 1)
    day = c["t"][v] + rng.integers(1, 15, len(v))
    v, day = v[day < ch.cfg.days], day[day < ch.cfg.days]
    start = ch.ts(day, rng.integers(8 * 3600, 11 * 3600, len(v)))
    end = start + rng.integers(3_600, 3 * 3_600, len(v)) * 1_000_000
    end_null = end >= ch.end_us
    return au.table(
        "encounters",
        {
            "encounter_id": ch.ids("V", len(v)),
            "user_id": ch.uid(c["u"][v]),
            "start_at": au.ts_array(start),
            "end_at": au.ts_array(end, mask=end_null),
            "class": pa.array(["AMB"] * len(v), pa.string()),
            "department": au.take(DEPTS, c["dept"][v]),
        },
    )


def observations(ch: Chunk, parts: Parts) -> pa.Table:
    """Home-device readings: BP as two rows (8480-6, 8462-4), glucose 2339-0 in mmol/L."""
    rng, pop, m = ch.rng, ch.pop, ch.trace.measures
    n_users = pop.n
    sys_mu = np.where(pop.poor_control, rng.normal(152, 8, n_users), rng.normal(127, 6, n_users))
    dia_mu = np.where(pop.poor_control, rng.normal(96, 5, n_users), rng.normal(80, 4, n_users))
    glu_mu = np.where(
        pop.poor_control, rng.normal(9.5, 1.2, n_users), rng.normal(6.4, 0.6, n_users)
    )
    d = ch.trace.devices
    if len(d.get("u", [])):
        sku = au.take(("DEV-BP", "DEV-GLU"), d["kind"])
        dts = ch.ts(d["t"], ch.sod(d["u"], d["t"])) + 1_800_000_000
        prices = np.array([vocab.DEVICES["DEV-BP"][1], vocab.DEVICES["DEV-GLU"][1]])
        parts.order(d["u"], dts, "device", sku, prices[d["kind"]], np.zeros(len(d["u"])))
    if not len(m.get("u", [])):
        return au.table("observations", {"observation_id": pa.array([], pa.string())})
    u, t, kind, crisis = m["u"], m["t"], m["kind"], m["crisis"] == 1
    ts = ch.ts(t, rng.integers(6 * 3600 + 1800, 9 * 3600, len(u)))
    bp = kind == 0
    bu, bts = u[bp], ts[bp]
    sys_dev = rng.normal(0, 9, len(bu))  # a high systolic reading tends to come with a high
    sys_v = np.round(sys_mu[bu] + sys_dev, 0).clip(85, 230)  # diastolic one (r ≈ 0.6)
    dia_v = np.round(dia_mu[bu] + 0.4 * sys_dev + rng.normal(0, 4.8, len(bu)), 0).clip(50, 140)
    gu, gts = u[~bp], ts[~bp]
    glu = np.where(
        crisis[~bp],
        rng.uniform(14.2, 19.0, len(gu)),
        rng.lognormal(np.log(glu_mu[gu].clip(3.5)), 0.15),
    )
    glu = np.round(glu.clip(2.5, 30.0), 1)
    uu = np.concatenate([bu, bu, gu])
    code = np.concatenate(
        [np.zeros(len(bu), np.int64), np.ones(len(bu), np.int64), np.full(len(gu), 2)]
    )
    val = np.concatenate([sys_v, dia_v, glu])
    tss = np.concatenate([bts, bts, gts])
    return au.table(
        "observations",
        {
            "observation_id": ch.ids("O", len(uu)),
            "user_id": ch.uid(uu),
            "ts": au.ts_array(tss),
            "code": au.take(("8480-6", "8462-4", "2339-0"), code),
            "value": val,
            "unit": au.take(("mm[Hg]", "mm[Hg]", "mmol/L"), code),
            "source": au.take(("home_bp_monitor", "home_bp_monitor", "glucose_meter"), code),
        },
    )


def conditions(ch: Chunk) -> pa.Table:
    """Recorded conditions: most of each user's true chronic conditions, and pregnancies."""
    rng, pop = ch.rng, ch.pop
    recorded = pop.conditions & (rng.random(pop.conditions.shape) < ch.cfg.diagnosed_share)
    u, k = np.nonzero(recorded)
    names = list(ch.cfg.personas)
    preg = (
        np.flatnonzero(pop.persona == names.index("pregnant"))
        if "pregnant" in names
        else np.array([], np.int64)
    )
    codes = (*CONDITION_CODES, "Z34.9")
    displays = (*vocab.CONDITIONS.values(), "正常妊娠监督")
    uu = np.concatenate([u, preg])
    kk = np.concatenate([k, np.full(len(preg), len(CONDITION_CODES))])
    reg_us = ch.ts(pop.reg_day[uu], pop.reg_sod[uu])
    back_days = np.where(
        kk == len(CONDITION_CODES), rng.integers(30, 200, len(uu)), rng.integers(30, 3650, len(uu))
    )
    onset = reg_us - back_days * au.US_PER_DAY
    return au.table(
        "conditions",
        {
            "condition_id": ch.ids("DX", len(uu)),
            "user_id": ch.uid(uu),
            "system": pa.array(["icd10"] * len(uu), pa.string()),
            "code": au.take(codes, kk),
            "display": au.take(displays, kk),
            "onset_at": au.ts_array(onset),
            "status": pa.array(["active"] * len(uu), pa.string()),
            "category": pa.array(["diagnosis"] * len(uu), pa.string()),
        },
    )


def surveys(ch: Chunk, csat: dict) -> pa.Table:
    """NPS asked on random active days (lower after complaints) and CSAT after consultations."""
    nps = ch.trace.nps
    nu = nps.get("u", np.array([], np.int64))
    nts = ch.ts(nps["t"], ch.sod(nu, nps["t"])) if len(nu) else np.array([], np.int64)
    u = np.concatenate([nu, csat["u"]])
    keep = np.concatenate([nts, csat["ts"]]) < ch.end_us
    kind = np.concatenate([np.zeros(len(nu), np.int64), np.ones(len(csat["u"]), np.int64)])
    score = np.concatenate([nps.get("score", np.array([], np.int64)).astype(float), csat["score"]])
    ts = np.concatenate([nts, csat["ts"]])
    u, kind, score, ts = u[keep], kind[keep], score[keep], ts[keep]
    return au.table(
        "surveys",
        {
            "response_id": ch.ids("S", len(u)),
            "user_id": ch.uid(u),
            "ts": au.ts_array(ts),
            "kind": au.take(("nps", "csat"), kind),
            "score": score,
        },
    )


def tickets(ch: Chunk, parts: Parts) -> pa.Table:
    """Customer-service tickets: complaints (reply timeout, payment failure), questions, refunds."""
    q = ch.trace.questions
    if len(q.get("u", [])):
        parts.ticket(q["u"], ch.ts(q["t"], ch.sod(q["u"], q["t"])), "question", "how_to_use")
    if not parts.tickets:
        return au.table("tickets", {"ticket_id": pa.array([], pa.string())})
    u = np.concatenate([p["u"] for p in parts.tickets])
    ts = np.concatenate([p["ts"] for p in parts.tickets])
    kind = np.concatenate([np.full(len(p["u"]), i) for i, p in enumerate(parts.tickets)])
    kinds = [p["kind"] for p in parts.tickets]
    reasons = [p["reason"] for p in parts.tickets]
    keep = ts < ch.end_us
    u, ts, kind = u[keep], ts[keep], kind[keep]
    resolved = ts + (ch.rng.lognormal(np.log(4 * 3600), 1.0, len(u)) * 1e6).astype(np.int64)
    return au.table(
        "tickets",
        {
            "ticket_id": ch.ids("T", len(u)),
            "user_id": ch.uid(u),
            "ts": au.ts_array(ts),
            "kind": au.take(kinds, kind),
            "reason": au.take(reasons, kind),
            "resolved_at": au.ts_array(resolved, mask=resolved >= ch.end_us),
        },
    )
