"""`respond(sends, out)`: what messages sent to simulated users cause, from their hidden traits.

For each send (user_id, ts, channel, message_type): the user opens it with probability
`open_propensity` (× `off_channel_factor` off their preferred channel, × `stopped_response_factor`
if they had truly stopped by then); an opener clicks with `click_p_<type>`; a click brings them into
the app (one extra visit: an `app_open` carrying the send id); a visitor orders with
`order_p_<type>`. So on the preferred channel, for a user who has not stopped, the expected number
of visits a send causes is exactly the ground truth's `uplift_visit_<type>` and of orders
`uplift_order_<type>`: an A/B test comparing sent with unsent users should measure those.
A marketing send left unopened makes its reader opt out of marketing on that channel with
`optout_unwanted_p` (a `consents` row, `granted` 0, a few hours later).

Randomness comes from a hash of (seed, send), so the answer for a send does not depend on the
other sends or their order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from careops.errors import InputError
from careops.schema import TABLES
from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.config import SimConfig
from careops.sim.writer import GROUND_TRUTH

CHANNELS = ("app_push", "sms", "wechat", "phone")
REQUIRED = ("user_id", "ts", "channel", "message_type")
_COUPON_OFF = 10.0


def _as_table(sends: pa.Table | list[dict]) -> pa.Table:
    t = sends if isinstance(sends, pa.Table) else pa.Table.from_pylist(list(sends))
    missing = [c for c in REQUIRED if c not in t.column_names]
    if missing:
        raise InputError(f"sends: missing field(s) {', '.join(missing)}; need {REQUIRED}")
    for c in REQUIRED:
        if t.column(c).null_count:
            raise InputError(f"sends.{c}: {t.column(c).null_count} empty value(s)")
    ts = t.column("ts")
    if not pa.types.is_timestamp(ts.type):
        raise InputError(f"sends.ts: must be a timestamp, got {ts.type}")
    if ts.type.tz is None:
        raise InputError("sends.ts: timestamps must carry a timezone (UTC)")
    return t


def _uniforms(seed: int, keys: list[str], k: int) -> np.ndarray:
    """k uniforms in [0, 1) per key, from SHA-256 of (seed, key)."""
    out = np.empty((len(keys), k))
    for i, key in enumerate(keys):
        d = hashlib.sha256(f"{seed}|{key}".encode()).digest()
        out[i] = np.frombuffer(d[: 4 * k], dtype=">u4") / 2**32
    return out


def load_truth(out: Path | str) -> tuple[pa.Table, SimConfig]:
    """The ground-truth users table and the config of a simulation folder."""
    out = Path(out)
    path = out / GROUND_TRUTH / "users.parquet"
    if not path.exists():
        raise InputError(f"out: {out} has no {GROUND_TRUTH}/users.parquet; run `careops simulate`")
    cfg_path = out / GROUND_TRUTH / "config.json"
    cfg = SimConfig.model_validate_json(cfg_path.read_text(encoding="utf-8"))
    return pq.read_table(path), cfg


def respond(sends: pa.Table | list[dict], out: Path | str, seed: int = 0) -> dict[str, pa.Table]:
    """Events (message_open, message_click, app_open) and orders caused by `sends`.

    `sends` has user_id, ts (UTC), channel (app_push/sms/wechat/phone), message_type (see
    config.message_types) and optionally send_id and purpose (marketing/service/medical; default
    marketing). Returns canonical `events`, `orders` and `consents` (opt-outs) tables.
    """
    truth, cfg = load_truth(out)
    t = _as_table(sends)
    n = t.num_rows
    types = list(cfg.message_types)
    bad = set(t.column("message_type").to_pylist()) - set(types)
    if bad:
        raise InputError(f"sends.message_type: unknown {sorted(bad)}; known: {types}")
    bad = set(t.column("channel").to_pylist()) - set(CHANNELS)
    if bad:
        raise InputError(f"sends.channel: unknown {sorted(bad)}; known: {list(CHANNELS)}")
    users = t.column("user_id").cast(pa.string())
    found = pc.index_in(users, truth.column("user_id"))
    rmask = pc.is_null(found).to_numpy(zero_copy_only=False)
    if rmask.any():
        first = users.filter(pa.array(rmask))[0].as_py()
        raise InputError(f"sends.user_id: {int(rmask.sum())} unknown user(s), e.g. {first!r}")
    row = found.to_numpy(zero_copy_only=False).astype(np.int64)
    ts_us = (
        t.column("ts")
        .cast(pa.timestamp("us", tz="UTC"))
        .cast(pa.int64())
        .to_numpy(zero_copy_only=False)
    )
    chan = t.column("channel").to_pylist()
    mtype = t.column("message_type").to_pylist()
    uid = users.to_pylist()
    if "send_id" in t.column_names:
        send_id = [str(s) for s in t.column("send_id").to_pylist()]
    else:
        send_id = [
            "S" + hashlib.sha1(f"{u}|{s}|{c}|{m}".encode()).hexdigest()[:16]
            for u, s, c, m in zip(uid, ts_us, chan, mtype, strict=True)
        ]
    r = _uniforms(seed, send_id, 7)
    tj = np.array([types.index(m) for m in mtype], dtype=np.int64)

    def col(name: str) -> np.ndarray:
        return truth.column(name).to_numpy(zero_copy_only=False)[row]

    p_open = col("open_propensity") * np.where(
        np.array(chan) == np.asarray(col("preferred_channel"), dtype=object),
        1.0,
        cfg.off_channel_factor,
    )
    stop_day = truth.column("true_stop_date").cast(pa.int32()).to_numpy(zero_copy_only=False)[row]
    stopped = (ts_us + cfg.timezone_offset_hours * 3_600_000_000) // au.US_PER_DAY >= stop_day
    p_open = np.where(stopped, p_open * cfg.stopped_response_factor, p_open)
    click_p = np.stack([col(f"click_p_{m}") for m in types], axis=1)[np.arange(n), tj]
    order_p = np.stack([col(f"order_p_{m}") for m in types], axis=1)[np.arange(n), tj]
    opened = r[:, 0] < p_open
    clicked = opened & (r[:, 1] < click_p)
    ordered = clicked & (r[:, 2] < order_p)
    delay = np.minimum(-np.log1p(-r[:, 3]) * 2 * 3600, 48 * 3600)  # mean 2 h, at most 2 days
    t_open = ts_us + (delay * 1e6).astype(np.int64)
    t_click = t_open + (-np.log1p(-r[:, 4]) * 120e6).astype(np.int64)
    t_order = t_click + (60 + r[:, 5] * 1800).astype(np.int64) * 1_000_000
    if "purpose" in t.column_names:
        purpose = np.asarray(t.column("purpose").fill_null("marketing").to_pylist(), dtype=object)
    else:
        purpose = np.full(n, "marketing", dtype=object)
    opts_out = (~opened) & (purpose == "marketing") & (r[:, 6] < cfg.optout_unwanted_p)
    t_optout = ts_us + (3600 + r[:, 3] * 20 * 3600).astype(np.int64) * 1_000_000
    return {
        "events": _events(send_id, uid, mtype, chan, opened, clicked, t_open, t_click),
        "orders": _orders(cfg, send_id, uid, mtype, ordered, t_order),
        "consents": _optouts(uid, chan, opts_out, t_optout),
    }


def _optouts(uid: list, chan: list, mask: np.ndarray, t_us: np.ndarray) -> pa.Table:
    idx = np.flatnonzero(mask)
    return au.table(
        "consents",
        {
            "user_id": pa.array([uid[i] for i in idx], pa.string()),
            "channel": pa.array([chan[i] for i in idx], pa.string()),
            "purpose": pa.array(["marketing"] * len(idx), pa.string()),
            "granted": np.zeros(len(idx), dtype=np.int64),
            "ts": au.ts_array(t_us[idx]),
            "source": pa.array(["optout_reply"] * len(idx), pa.string()),
        },
    )


def _events(send_id, uid, mtype, chan, opened, clicked, t_open, t_click) -> pa.Table:
    rows_id, rows_u, rows_ts, rows_name, rows_prop = [], [], [], [], []
    for i in range(len(send_id)):
        prop = vocab.json_text(
            {"send_id": send_id[i], "message_type": mtype[i], "channel": chan[i]}
        )
        steps = [("message_open", t_open[i])] if opened[i] else []
        if clicked[i]:
            steps += [("message_click", t_click[i]), ("app_open", t_click[i] + 5_000_000)]
        for name, when in steps:
            rows_id.append(f"{send_id[i]}-{name}")
            rows_u.append(uid[i])
            rows_ts.append(int(when))
            rows_name.append(name)
            rows_prop.append(prop)
    return au.table(
        "events",
        {
            "event_id": pa.array(rows_id, pa.string()),
            "user_id": pa.array(rows_u, pa.string()),
            "ts": au.ts_array(np.array(rows_ts, dtype=np.int64)),
            "name": pa.array(rows_name, pa.string()),
            "properties": pa.array(rows_prop, pa.string()),
        },
    )


def _orders(cfg: SimConfig, send_id, uid, mtype, ordered, t_order) -> pa.Table:
    prices = {f"SVC-CONSULT-{i}": t[1] for i, t in enumerate(vocab.TITLES)}
    prices |= {k: v[1] for k, v in vocab.DEVICES.items()}
    prices |= {k: v["price"] for k, v in vocab.PACKAGES.items()}
    idx = np.flatnonzero(ordered)
    rows = []
    for i in idx:
        mt = cfg.message_types[mtype[i]]
        sku = "SVC-CONSULT-1" if mt.order_sku == "SVC-CONSULT" else mt.order_sku
        amount = prices.get(sku, 0.0) - (_COUPON_OFF if mtype[i] == "coupon" else 0.0)
        rows.append(
            {
                "order_id": f"{send_id[i]}-order",
                "user_id": uid[i],
                "ts": dt.datetime.fromtimestamp(t_order[i] / 1e6, dt.UTC),
                "category": mt.order_category,
                "sku": sku,
                "amount_cny": amount,
                "status": "paid",
            }
        )
    return pa.Table.from_pylist(rows, schema=TABLES["orders"].arrow_schema())
