"""Consents (SPEC §5, PIPL): who agreed to marketing messages, and who withdrew.

At sign-up a patient answers the marketing-consent question on every channel (`all`): most grant
(`consent_marketing_p`), the rest decline. Some who granted withdraw later on one channel or on
all of them (`consent_withdraw_p` over the window; people who went quiet withdraw more, ×
`consent_withdraw_stopped_mult`, near when they stopped). Service and medical messages need no
row: they go unless withdrawn (the simulated patients never withdraw them). Opt-outs that
follow unwanted messages come from `respond()`.

The draws use their own random stream, so adding consents changed no other table.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim.context import Chunk
from careops.sim.engine import NONE

#: the channel a withdrawal names, and how often
WITHDRAW_CHANNELS = ("sms", "wechat", "app_push", "all")
WITHDRAW_SHARES = (0.4, 0.25, 0.15, 0.2)


def consents(ch: Chunk) -> pa.Table:
    """The canonical `consents` rows of the chunk: a sign-up answer each, and withdrawals."""
    cfg, pop = ch.cfg, ch.pop
    rng = np.random.default_rng([cfg.seed, ch.index + 1, 0xC0])
    n = pop.n
    reg_us = ch.ts(pop.reg_day, pop.reg_sod) + 60_000_000  # answered a minute after sign-up
    granted = rng.random(n) < cfg.consent_marketing_p
    stopped = ch.trace.stop_day != NONE
    p_withdraw = np.where(
        stopped,
        np.minimum(cfg.consent_withdraw_p * cfg.consent_withdraw_stopped_mult, 1.0),
        cfg.consent_withdraw_p,
    )
    withdraws = granted & (rng.random(n) < p_withdraw)
    # when: uniformly between sign-up and the window end; for those who stopped, within a week
    # either side of the day they stopped
    last_day = np.where(stopped, np.minimum(ch.trace.stop_day + 7, cfg.days - 1), cfg.days - 1)
    first_day = np.where(stopped, np.maximum(pop.reg_day, ch.trace.stop_day - 7), pop.reg_day)
    first_day = np.minimum(first_day, last_day)
    day = first_day + (rng.random(n) * (last_day - first_day + 1)).astype(np.int64)
    w_us = ch.ts(np.minimum(day, cfg.days - 1), rng.integers(8 * 3600, 22 * 3600, n))
    w_us = np.maximum(w_us, reg_us + 3_600_000_000)
    inside = w_us < ch.end_us
    withdraws &= inside
    chan = rng.choice(len(WITHDRAW_CHANNELS), size=n, p=WITHDRAW_SHARES)
    idx = np.arange(n)
    w = idx[withdraws]
    users = pa.concat_arrays([ch.uid(idx), ch.uid(w)])
    return au.table(
        "consents",
        {
            "user_id": users,
            "channel": pa.concat_arrays(
                [pa.array(["all"] * n, pa.string()), au.take(WITHDRAW_CHANNELS, chan[w])]
            ),
            "purpose": pa.array(["marketing"] * (n + len(w)), pa.string()),
            "granted": np.concatenate([granted, np.zeros(len(w), dtype=bool)]).astype(np.int64),
            "ts": au.ts_array(np.concatenate([reg_us, w_us[w]])),
            "source": pa.array(["signup"] * n + ["settings"] * len(w), pa.string()),
        },
    )
