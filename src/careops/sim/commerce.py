"""Money: service-package enrolments and entitlement use, check-ups, the orders table and the
marketing spend that bought the paid sign-ups."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.clinical import ORDER_CATEGORIES, ORDER_STATUS, Parts
from careops.sim.config import SimConfig
from careops.sim.context import Chunk
from careops.sim.engine import PACKAGE_IDS


def enrollments(ch: Chunk, parts: Parts) -> dict[str, pa.Table]:
    """Enrolments (with renewals chained by `renewal_of`), their orders and entitlement use."""
    e, rng = ch.trace.enrollments, ch.rng
    n = len(e.get("u", []))
    if n == 0:
        e = {k: np.array([], np.int64) for k in ("u", "t", "pkg", "price", "renewal_of", "eid")}
    days = np.array([vocab.PACKAGES[p]["days"] for p in PACKAGE_IDS])
    start = ch.ts(e["t"], rng.integers(9 * 3600, 21 * 3600, n))
    end = start + days[e["pkg"]] * au.US_PER_DAY
    prefix = f"EN{ch.index:04d}"
    eid = au.ids(prefix, e["eid"], 9)
    ren = e["renewal_of"]
    status = np.where(end > ch.end_us, 0, 1)
    enr = au.table(
        "enrollments",
        {
            "enrollment_id": eid,
            "user_id": ch.uid(e["u"]),
            "package_id": au.take(PACKAGE_IDS, e["pkg"]),
            "start_at": au.ts_array(start),
            "end_at": au.ts_array(end),
            "price_cny": e["price"].astype(float),
            "status": au.take(("active", "expired"), status),
            "renewal_of": pa.array(
                au.ids(prefix, np.maximum(ren, 0), 9).to_pylist(), pa.string(), mask=ren < 0
            )
            if n
            else pa.array([], pa.string()),
        },
    )
    parts.order(
        e["u"],
        start - 60_000_000,
        "package",
        au.take(PACKAGE_IDS, e["pkg"]),
        e["price"],
        np.zeros(n),
    )
    # entitlement use: the kind drawn among the package's entitlements
    us = ch.trace.usage
    m = len(us.get("u", []))
    if m:
        row = np.searchsorted(e["eid"], us["eid"])  # eids are increasing within the chunk
        pkg = e["pkg"][row]
        kinds = sorted({k for v in vocab.ENTITLEMENTS.values() for k in v})
        k_off = np.array([0, *list(np.cumsum([len(vocab.ENTITLEMENTS[p]) for p in PACKAGE_IDS]))])
        flat = [kinds.index(k) for p in PACKAGE_IDS for k in vocab.ENTITLEMENTS[p]]
        cnt = np.diff(k_off)
        pick = np.array(flat)[k_off[pkg] + (rng.random(m) * cnt[pkg]).astype(np.int64)]
        uts = ch.ts(us["t"], ch.sod(us["u"], us["t"]))
        uts = np.maximum(uts, start[row] + 60_000_000)
        keep = uts < ch.end_us
        use = au.table(
            "entitlement_usage",
            {
                "usage_id": ch.ids("EU", int(keep.sum())),
                "enrollment_id": eid.take(pa.array(row[keep])),
                "user_id": ch.uid(us["u"][keep]),
                "ts": au.ts_array(uts[keep]),
                "entitlement": au.take(kinds, pick[keep]),
            },
        )
    else:
        use = au.table("entitlement_usage", {"usage_id": pa.array([], pa.string())})
    return {"enrollments": enr, "entitlement_usage": use}


def checkups(ch: Chunk, parts: Parts) -> None:
    """Check-up orders: seniors buy the senior panel, women often the women's panel."""
    c = ch.trace.checkups
    if not len(c.get("u", [])):
        return
    u = c["u"]
    kind = np.where(
        ch.pop.age[u] >= 60, 1, np.where(ch.pop.female[u] & (ch.rng.random(len(u)) < 0.5), 2, 0)
    )
    skus = tuple(vocab.CHECKUPS)
    price = np.array([vocab.CHECKUPS[s][1] for s in skus])[kind]
    status = np.where(ch.rng.random(len(u)) < 0.03, 3, 0)
    parts.order(
        u,
        ch.ts(c["t"], ch.sod(u, c["t"])) + 900_000_000,
        "checkup",
        au.take(skus, kind),
        price,
        status,
    )


def orders(ch: Chunk, parts: Parts) -> pa.Table:
    """The orders table from every builder's contributions, sorted by time."""
    if not parts.orders:
        return au.table("orders", {"order_id": pa.array([], pa.string())})
    cat = lambda k: np.concatenate([p[k] for p in parts.orders])  # noqa: E731
    ts = np.minimum(cat("ts"), ch.end_us - 1)
    order = np.argsort(ts, kind="stable")
    sku = pa.concat_arrays([p["sku"].cast(pa.string()) for p in parts.orders])
    return au.table(
        "orders",
        {
            "order_id": ch.ids("OR", len(ts)),
            "user_id": ch.uid(cat("u")[order]),
            "ts": au.ts_array(ts[order]),
            "category": au.take(ORDER_CATEGORIES, cat("cat")[order]),
            "sku": sku.take(pa.array(order)),
            "amount_cny": cat("amount")[order],
            "status": au.take(ORDER_STATUS, cat("status")[order]),
        },
    )


def count_signups(ch: Chunk, counts: np.ndarray) -> None:
    """Add the chunk's sign-ups per (day, channel) to `counts` (for marketing spend)."""
    np.add.at(counts, (ch.pop.reg_day, ch.pop.channel), 1)


def marketing_spend(cfg: SimConfig, counts: np.ndarray) -> pa.Table:
    """Daily spend per paid channel: new users × the channel's CAC, with day-to-day noise."""
    rng = np.random.default_rng([cfg.seed, 99])
    paid = [i for i, c in enumerate(cfg.channels.values()) if c.cac_cny > 0]
    names = list(cfg.channels)
    cac = np.array([c.cac_cny for c in cfg.channels.values()])
    day = np.repeat(np.arange(cfg.days), len(paid))
    chan = np.tile(np.array(paid, dtype=np.int64), cfg.days)
    new = counts[day, chan]
    amount = np.round(
        new * cac[chan] * rng.lognormal(-0.02, 0.2, len(day)) + rng.uniform(20, 120, len(day)), 2
    )
    start = au.day_number(cfg.start)
    return au.table(
        "marketing_spend",
        {
            "date": au.date_array(start + day),
            "channel": au.take(names, chan),
            "amount_cny": amount,
            "new_users": new.astype(np.int64),
        },
    )
