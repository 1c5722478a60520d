"""Synthetic canonical tables with numpy, written as Parquet in chunks (benchmark and demo data).

Not a simulator (that is `careops.sim`): just plausible shapes and volumes — users register
over two years, stay active for an exponential lifetime, and their events, consultations,
orders, prescriptions, readings, surveys and package enrollments fall inside it.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from careops.schema import TABLES

DAY_US = 86_400 * 1_000_000
CHANNELS = np.array(
    ["douyin", "baidu_search", "wechat_ads", "hospital_offline", "organic", "referral"]
)
CHANNEL_P = [0.22, 0.15, 0.13, 0.2, 0.15, 0.15]
PAID_CAC = {"douyin": 620.0, "baidu_search": 780.0, "wechat_ads": 560.0}
EVENT_NAMES = np.array(
    [
        "app_open",
        "search",
        "view_content",
        "view_doctor",
        "share",
        "invite",
        "message_delivered",
        "message_open",
    ]
)
EVENT_P = [0.38, 0.15, 0.2, 0.1, 0.03, 0.02, 0.07, 0.05]


def _ids(prefix: str, start: int, n: int) -> pa.Array:
    nums = pa.array(np.arange(start, start + n), pa.int64()).cast(pa.string())
    return pc.binary_join_element_wise(prefix, nums, "")


def _ts(us: np.ndarray) -> pa.Array:
    return pa.array(us.astype("int64"), pa.timestamp("us", tz="UTC"))


def _write(out: Path, name: str, part: int, cols: dict[str, pa.Array]) -> int:
    schema = TABLES[name].arrow_schema()
    n = len(next(iter(cols.values())))
    arrays = [cols[f.name].cast(f.type) if f.name in cols else pa.nulls(n, f.type) for f in schema]
    (out / name).mkdir(parents=True, exist_ok=True)
    pq.write_table(
        pa.table(arrays, schema=schema), out / name / f"part-{part:04d}.parquet", compression="zstd"
    )
    return n


def generate(
    out: str | Path,
    patients: int,
    events: int,
    *,
    end: datetime | None = None,
    chunk: int = 100_000,
    seed: int = 7,
) -> dict[str, int]:
    """Write `patients` patients and about `events` events (plus the other tables) to `out`."""
    out = Path(out)
    rng = np.random.default_rng(seed)
    end = end or datetime(2026, 11, 1, tzinfo=UTC)
    end_us = int(end.timestamp() * 1_000_000)
    start_us = end_us - 730 * DAY_US
    per_user = events / patients
    counts: dict[str, int] = {}
    add = lambda k, n: counts.__setitem__(k, counts.get(k, 0) + n)  # noqa: E731
    ev_id = co_id = or_id = rx_id = ob_id = su_id = en_id = us_id = tk_id = ec_id = 0
    for part, lo in enumerate(range(0, patients, chunk)):
        n = min(chunk, patients - lo)
        uid_num = np.arange(lo, lo + n)
        uids = _ids("u", lo, n)
        reg = rng.integers(start_us, end_us - DAY_US, n)
        channel = rng.choice(CHANNELS, n, p=CHANNEL_P)
        referrer = np.where(
            (channel == "referral") & (uid_num > 0),
            (rng.random(n) * np.maximum(uid_num, 1)).astype(int),
            -1,
        )
        ref_ids = pa.array([None if r < 0 else f"u{r}" for r in referrer], pa.string())
        birth = np.datetime64("2026-01-01") - rng.integers(2 * 365, 85 * 365, n).astype(
            "timedelta64[D]"
        )
        add(
            "patients",
            _write(
                out,
                "patients",
                part,
                {
                    "user_id": uids,
                    "registered_at": _ts(reg),
                    "birth_date": pa.array(birth.astype("datetime64[D]")),
                    "sex": pa.array(rng.choice(["M", "F"], n)),
                    "region": pa.array(rng.choice(["华东", "华北", "华南", "西南"], n)),
                    "source_channel": pa.array(channel),
                    "referrer_id": ref_ids,
                },
            ),
        )
        life = np.minimum(reg + (rng.exponential(150, n) * DAY_US).astype("int64"), end_us)
        span = np.maximum(life - reg, DAY_US // 24)
        # events: a per-user Poisson count, uniformly inside the active life
        k = rng.poisson(per_user * rng.lognormal(0, 0.8, n) / np.exp(0.32))
        m = int(k.sum())
        who = np.repeat(np.arange(n), k)
        ts = reg[who] + (rng.random(m) * span[who]).astype("int64")
        names = rng.choice(EVENT_NAMES, m, p=EVENT_P)
        props = np.full(m, None, dtype=object)
        inv = np.flatnonzero(names == "invite")
        props[inv] = [
            json.dumps({"invitee_id": f"u{x}"}) for x in rng.integers(0, patients, len(inv))
        ]
        msg = np.flatnonzero(names == "message_delivered")
        props[msg] = np.where(
            rng.random(len(msg)) < 0.7, '{"in_target": true}', '{"in_target": false}'
        )
        add(
            "events",
            _write(
                out,
                "events",
                part,
                {
                    "event_id": _ids("e", ev_id, m),
                    "user_id": pa.array(uids.take(pa.array(who))),
                    "ts": _ts(ts),
                    "name": pa.array(names),
                    "properties": pa.array(props, pa.string()),
                },
            ),
        )
        ev_id += m
        take = lambda idx, u=uids: u.take(pa.array(idx))  # noqa: E731
        # consultations and orders
        kc = rng.poisson(np.maximum(k, 1) / 25)
        c = int(kc.sum())
        cw = np.repeat(np.arange(n), kc)
        cts = reg[cw] + (rng.random(c) * span[cw]).astype("int64")
        add(
            "consultations",
            _write(
                out,
                "consultations",
                part,
                {
                    "consultation_id": _ids("c", co_id, c),
                    "user_id": take(cw),
                    "started_at": _ts(cts),
                    "mode": pa.array(
                        rng.choice(
                            ["text", "video", "phone", "offline"], c, p=[0.6, 0.15, 0.1, 0.15]
                        )
                    ),
                    "department": pa.array(rng.choice(["心内科", "内分泌科", "儿科", "全科"], c)),
                    "first_reply_s": pa.array(rng.lognormal(5.5, 1.0, c)),
                    "price_cny": pa.array(rng.choice([0.0, 50.0, 80.0], c)),
                },
            ),
        )
        co_id += c
        ko = rng.poisson(kc * 1.2 + 0.1)
        o = int(ko.sum())
        ow = np.repeat(np.arange(n), ko)
        ots = reg[ow] + (rng.random(o) * span[ow]).astype("int64")
        add(
            "orders",
            _write(
                out,
                "orders",
                part,
                {
                    "order_id": _ids("o", or_id, o),
                    "user_id": take(ow),
                    "ts": _ts(ots),
                    "category": pa.array(
                        rng.choice(
                            ["consultation", "drug", "checkup", "package"],
                            o,
                            p=[0.45, 0.35, 0.12, 0.08],
                        )
                    ),
                    "amount_cny": pa.array(np.round(rng.lognormal(4.3, 0.9, o), 2)),
                    "status": pa.array(
                        rng.choice(
                            ["paid", "refunded", "failed", "cancelled"],
                            o,
                            p=[0.88, 0.04, 0.05, 0.03],
                        )
                    ),
                },
            ),
        )
        or_id += o
        # chronic patients: monthly prescriptions with gaps, BP and glucose readings
        chronic = np.flatnonzero(rng.random(n) < 0.15)
        kr = rng.poisson(span[chronic] / (35 * DAY_US))
        r = int(kr.sum())
        rw = chronic[np.repeat(np.arange(len(chronic)), kr)]
        rts = reg[rw] + (rng.random(r) * span[rw]).astype("int64")
        add(
            "prescriptions",
            _write(
                out,
                "prescriptions",
                part,
                {
                    "prescription_id": _ids("rx", rx_id, r),
                    "user_id": take(rw),
                    "ts": _ts(rts),
                    "drug_code": pa.array(rng.choice(["C09AA02", "A10BA02"], r)),
                    "days_supply": pa.array(rng.choice([14, 28, 30, 60], r)),
                },
            ),
        )
        rx_id += r
        kb = rng.poisson(span[chronic] / (20 * DAY_US))
        b = int(kb.sum())
        bw = chronic[np.repeat(np.arange(len(chronic)), kb)]
        bts = reg[bw] + (rng.random(b) * span[bw]).astype("int64")
        sbp = rng.normal(138, 15, b)
        glu = rng.lognormal(np.log(7.0), 0.25, b)
        codes = np.concatenate([np.full(b, "8480-6"), np.full(b, "8462-4"), np.full(b, "2345-7")])
        add(
            "observations",
            _write(
                out,
                "observations",
                part,
                {
                    "observation_id": _ids("ob", ob_id, 3 * b),
                    "user_id": take(np.tile(bw, 3)),
                    "ts": _ts(np.tile(bts, 3)),
                    "code": pa.array(codes),
                    "value": pa.array(np.concatenate([sbp, sbp * 0.62 + rng.normal(0, 6, b), glu])),
                },
            ),
        )
        ob_id += 3 * b
        # surveys, tickets, encounters
        s = n // 8
        sw = rng.integers(0, n, s)
        kind = rng.choice(["nps", "csat"], s)
        score = np.where(kind == "nps", rng.integers(0, 11, s), rng.integers(1, 6, s))
        add(
            "surveys",
            _write(
                out,
                "surveys",
                part,
                {
                    "response_id": _ids("s", su_id, s),
                    "user_id": take(sw),
                    "ts": _ts(reg[sw] + (rng.random(s) * span[sw]).astype("int64")),
                    "kind": pa.array(kind),
                    "score": pa.array(score.astype(float)),
                },
            ),
        )
        su_id += s
        tw = rng.integers(0, n, n // 50)
        add(
            "tickets",
            _write(
                out,
                "tickets",
                part,
                {
                    "ticket_id": _ids("t", tk_id, len(tw)),
                    "user_id": take(tw),
                    "ts": _ts(reg[tw] + (rng.random(len(tw)) * span[tw]).astype("int64")),
                    "kind": pa.array(rng.choice(["complaint", "question", "refund"], len(tw))),
                },
            ),
        )
        tk_id += len(tw)
        ew = rng.integers(0, n, n // 20)
        ets = reg[ew] + (rng.random(len(ew)) * span[ew]).astype("int64")
        add(
            "encounters",
            _write(
                out,
                "encounters",
                part,
                {
                    "encounter_id": _ids("en", ec_id, len(ew)),
                    "user_id": take(ew),
                    "start_at": _ts(ets),
                    "class": pa.array(np.full(len(ew), "AMB")),
                },
            ),
        )
        ec_id += len(ew)
        # packages: chronic patients enrol for a year; uses over the year
        pk = chronic[rng.random(len(chronic)) < 0.4]
        pst = reg[pk] + (rng.random(len(pk)) * 30 * DAY_US).astype("int64")
        add(
            "enrollments",
            _write(
                out,
                "enrollments",
                part,
                {
                    "enrollment_id": _ids("k", en_id, len(pk)),
                    "user_id": take(pk),
                    "package_id": pa.array(np.full(len(pk), "htn_year")),
                    "start_at": _ts(pst),
                    "end_at": _ts(pst + 365 * DAY_US),
                    "price_cny": pa.array(np.full(len(pk), 899.0)),
                    "status": pa.array(np.where(pst + 365 * DAY_US < end_us, "expired", "active")),
                },
            ),
        )
        ku = rng.poisson(6, len(pk))
        u = int(ku.sum())
        uw = np.repeat(np.arange(len(pk)), ku)
        add(
            "entitlement_usage",
            _write(
                out,
                "entitlement_usage",
                part,
                {
                    "usage_id": _ids("us", us_id, u),
                    "enrollment_id": _ids("k", en_id, len(pk)).take(pa.array(uw)),
                    "user_id": take(pk[uw]),
                    "ts": _ts(pst[uw] + (rng.exponential(60, u) * DAY_US).astype("int64")),
                    "entitlement": pa.array(np.full(u, "consultation")),
                },
            ),
        )
        en_id += len(pk)
        us_id += u
    # marketing spend: daily per paid channel, matching the expected CAC
    days = np.arange(
        np.datetime64(datetime.fromtimestamp(start_us / 1e6, UTC).date()), np.datetime64(end.date())
    )
    rows = {"date": [], "channel": [], "amount_cny": [], "new_users": []}
    daily_new = patients / len(days)
    for ch, cac in PAID_CAC.items():
        share = CHANNEL_P[list(CHANNELS).index(ch)]
        new = rng.poisson(daily_new * share, len(days))
        rows["date"] += list(days.astype("datetime64[D]").astype(object))
        rows["channel"] += [ch] * len(days)
        rows["amount_cny"] += list(np.round(new * cac * rng.normal(1, 0.1, len(days)), 2))
        rows["new_users"] += list(new)
    add(
        "marketing_spend",
        _write(
            out,
            "marketing_spend",
            0,
            {
                "date": pa.array(rows["date"], pa.date32()),
                "channel": pa.array(rows["channel"]),
                "amount_cny": pa.array(rows["amount_cny"], pa.float64()),
                "new_users": pa.array(rows["new_users"], pa.int64()),
            },
        ),
    )
    return counts


def load_duckdb(con, src: str | Path) -> dict[str, int]:
    """Load the Parquet folders into an Ibis DuckDB warehouse's canonical tables."""
    src = Path(src)
    rows = {}
    for name in TABLES:
        if (src / name).is_dir():
            t = con.read_parquet(str(src / name / "*.parquet"))
            con.insert(name, t.select(TABLES[name].names))
            rows[name] = int(con.table(name).count().to_pyarrow().as_py())
    return rows
