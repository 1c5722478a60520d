"""Ground truth per user: what the data was generated from, and what happens after the window.

After the last simulated day each person keeps the stop hazard they had (time since sign-up keeps
settling it, complaints and value received keep fading, no new shocks) until they stop, so
"stops within the next 7 / 30 days" is known for any as-of date. Expected spend over the next
365 days is the survival-weighted sum of the person's expected daily spend under those rates.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.config import SimConfig
from careops.sim.context import Chunk
from careops.sim.engine import (
    DRIVERS,
    NONE,
    PACKAGE_IDS,
    _persona_array,
    base_hazard,
    experience_factor,
    stop_driver,
)
from careops.sim.population import CONDITION_CODES, NEEDS
from careops.sim.writer import GROUND_TRUTH

MEAN_CONSULT = float(np.mean([t[1] for t in vocab.TITLES]))
MEAN_DRUG = float(np.mean([d[1] for d in vocab.DRUGS.values()]))


def daily_spend(ch: Chunk) -> np.ndarray:
    """Expected yuan per day while a person is still a user, from their latent rates."""
    cfg, pop, tr = ch.cfg, ch.pop, ch.trace
    consult = pop.episode_rate * _persona_array(cfg, "consult_p", pop.persona) + _persona_array(
        cfg, "followup_rate", pop.persona
    )
    spend = consult * (MEAN_CONSULT + cfg.prescription_p * MEAN_DRUG)
    drug_price = np.array([vocab.DRUGS[c][1] for c in vocab.DRUGS])
    spend += np.where(
        tr.refill_drug >= 0, cfg.refill_adherence * 2 * drug_price[tr.refill_drug.clip(0)] / 30, 0.0
    )
    pkg_price = np.array(
        [vocab.PACKAGES[p]["price"] / vocab.PACKAGES[p]["days"] for p in PACKAGE_IDS]
    )
    spend += np.where(
        tr.enrolled_pkg >= 0,
        pkg_price[tr.enrolled_pkg.clip(0)]
        * (cfg.renewal_p_activated + cfg.renewal_p_not_activated)
        / 2,
        0.0,
    )
    checkup = np.mean([c[1] for c in vocab.CHECKUPS.values()])
    spend += pop.activity * _persona_array(cfg, "checkup_rate", pop.persona) * checkup
    return spend


def users(ch: Chunk) -> pa.Table:
    """The ground-truth users table of the chunk (one row per user)."""
    cfg, pop, tr, rng = ch.cfg, ch.pop, ch.trace, ch.rng
    stop = tr.stop_day.copy()
    alive = stop == NONE
    # beyond the window: no new shocks, experience fades, hazard keeps settling
    comp, val = tr.complaint_score.copy(), tr.value_score.copy()
    comp_late = tr.complaint_late_score.copy()
    driver = tr.driver.copy()
    surv = np.ones(pop.n)
    exp_spend = np.zeros(pop.n)
    rate = daily_spend(ch)
    for k in range(cfg.truth_horizon_days):
        day = cfg.days + k
        h = base_hazard(cfg, pop, day - pop.reg_day) * experience_factor(cfg, comp, val)
        h = np.minimum(np.where(day < tr.enrolled_until, h * cfg.enrolled_hazard_mult, h), 0.9)
        if k < 365:
            exp_spend += surv * rate
        surv *= 1 - h
        s = alive & (rng.random(pop.n) < h)
        stop[s] = day
        if s.any():
            driver[s] = stop_driver(
                cfg, pop.persona[s], day - pop.reg_day[s], comp[s], comp_late[s]
            )
        alive &= ~s
        comp *= cfg.memory_decay
        comp_late *= cfg.memory_decay
        val *= cfg.memory_decay
    late = _persona_array(cfg, "hazard_late", pop.persona) * pop.hazard_mult
    stop[alive] = cfg.days + cfg.truth_horizon_days + rng.geometric(np.minimum(late[alive], 0.9))
    # people who stopped before the window or sign-up never existed as users after their stop;
    # exp_spend of already-stopped people is 0
    exp_spend = np.where(tr.stop_day == NONE, exp_spend, 0.0)
    base = au.day_number(cfg.start)
    cols: dict[str, pa.Array | np.ndarray] = {
        "user_id": ch.uid(np.arange(pop.n)),
        "persona": au.take(tuple(cfg.personas), pop.persona),
        "persona_zh": au.take([p.label_zh for p in cfg.personas.values()], pop.persona),
        "health_need": au.take(NEEDS, pop.health_need),
        "true_conditions": pa.array(
            [
                ",".join(c for c, has in zip(CONDITION_CODES, row, strict=True) if has)
                for row in pop.conditions
            ],
            pa.string(),
        ),
        "poor_control": pop.poor_control,
        "glucose_crisis": pop.glucose_crisis,
        "activity": pop.activity,
        "episode_rate": pop.episode_rate,
        "churn_hazard": np.minimum(tr.hazard_end, 0.9),
        "stopped_in_window": tr.stop_day != NONE,
        "true_stop_date": au.date_array(base + stop),
        # why the stop happened (`engine.stop_driver`); people stopping after the truth
        # horizon stop at their settled rate: `unknown`
        "churn_driver": au.take(DRIVERS, driver),
        "expected_spend_365d": np.round(exp_spend, 2),
        "preferred_channel": au.take([p.channel for p in cfg.personas.values()], pop.persona),
        "open_propensity": pop.open_p,
    }
    for j, mt in enumerate(cfg.message_types):
        cols[f"click_p_{mt}"] = pop.click_p[:, j]
        cols[f"order_p_{mt}"] = pop.order_p[:, j]
        cols[f"uplift_visit_{mt}"] = pop.open_p * pop.click_p[:, j]
        cols[f"uplift_order_{mt}"] = pop.open_p * pop.click_p[:, j] * pop.order_p[:, j]
    return pa.table({k: v if isinstance(v, pa.Array) else pa.array(v) for k, v in cols.items()})


def churn_labels(out: Path | str, as_of: dt.date, days: int) -> pa.Table:
    """True churn labels for any as-of date: for every user signed up before `as_of` and not yet
    gone, whether they truly stop within the next `days` days (user_id, stops_within)."""
    out = Path(out)
    truth = pq.read_table(
        out / GROUND_TRUTH / "users.parquet", columns=["user_id", "true_stop_date"]
    )
    reg = pq.read_table(out / "patients.parquet", columns=["user_id", "registered_at"])
    if not truth.column("user_id").equals(reg.column("user_id")):  # both written in user order
        reg, truth = reg.sort_by("user_id"), truth.sort_by("user_id")
    cfg = SimConfig.model_validate_json((out / GROUND_TRUTH / "config.json").read_text("utf-8"))
    midnight = dt.datetime.combine(as_of, dt.time(), dt.UTC) - dt.timedelta(
        hours=cfg.timezone_offset_hours
    )  # local midnight starting `as_of`, in UTC
    stop = truth.column("true_stop_date")
    limit = pa.scalar(as_of, pa.date32())
    signed = pc.less(reg.column("registered_at"), pa.scalar(midnight, pa.timestamp("us", tz="UTC")))
    here = pc.and_(signed, pc.greater(stop, limit))
    soon = pc.less_equal(stop, pa.scalar(as_of + dt.timedelta(days=days), pa.date32()))
    return pa.table({"user_id": truth.column("user_id"), "stops_within": soon}).filter(here)
