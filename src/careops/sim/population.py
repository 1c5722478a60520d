"""Who the patients are: one chunk of users with their persona, profile and hidden traits."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from careops.sim import vocab
from careops.sim.config import SimConfig

CONDITION_CODES: tuple[str, ...] = tuple(vocab.CONDITIONS)
NEEDS: tuple[str, ...] = ("health_management", "acute", "prevention", "medical_resources")


@dataclass
class Population:
    """Arrays of one chunk, index i = the chunk's i-th user (global number offset + i)."""

    offset: int
    persona: np.ndarray  # int index into cfg.personas
    reg_day: np.ndarray  # day of the window the user signs up
    reg_sod: np.ndarray  # second of the (local) day of sign-up
    age: np.ndarray  # whole years at sign-up
    female: np.ndarray
    region: np.ndarray
    city: np.ndarray  # str
    channel: np.ndarray  # int index into cfg.channels
    managed_by: np.ndarray  # chunk index of managing account or -1
    activity: np.ndarray  # settled daily P(active)
    episode_rate: np.ndarray
    hazard_mult: np.ndarray
    conditions: np.ndarray  # bool [n, len(CONDITION_CODES)]
    poor_control: np.ndarray
    glucose_crisis: np.ndarray
    health_need: np.ndarray  # int index into NEEDS
    open_p: np.ndarray
    click_p: np.ndarray  # [n, message types]
    order_p: np.ndarray

    @property
    def n(self) -> int:
        return len(self.persona)


def pick(rng: np.random.Generator, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Per row r, draw a column index with probabilities weights[rows[r]] (rows sum to 1)."""
    cum = np.cumsum(weights, axis=1)
    cum[:, -1] = 1.0
    u = rng.random(len(rows))
    return (cum[rows] < u[:, None]).sum(axis=1)


def persona_matrix(cfg: SimConfig, field: str, keys: tuple[str, ...]) -> np.ndarray:
    """Matrix [persona, key] of a persona's weight dict, rows normalised to sum 1 (or 0)."""
    m = np.zeros((len(cfg.personas), len(keys)))
    for i, p in enumerate(cfg.personas.values()):
        for k, w in getattr(p, field).items():
            m[i, keys.index(k)] = w
    s = m.sum(axis=1, keepdims=True)
    return np.divide(m, s, out=np.zeros_like(m), where=s > 0)


def draw_population(cfg: SimConfig, rng: np.random.Generator, offset: int, n: int) -> Population:
    """Draw n users: persona, sign-up day (growing over the window), profile and latent traits."""
    pers = list(cfg.personas.values())
    persona = rng.choice(len(pers), size=n, p=[p.share for p in pers])
    # sign-ups grow linearly over the window (density ∝ 1 + t/D): inverse CDF
    u = rng.random(n)
    reg_day = np.minimum(((np.sqrt(1 + 3 * u) - 1) * cfg.days).astype(np.int64), cfg.days - 1)
    hours = np.stack([vocab.HOUR_PROFILES[p.hours] for p in pers])
    reg_hour = pick(rng, hours, persona)
    reg_sod = reg_hour * 3600 + rng.integers(0, 3600, n)
    lo = np.array([p.age[0] for p in pers])[persona]
    hi = np.array([p.age[1] for p in pers])[persona]
    age = lo + np.floor(rng.random(n) * (hi - lo + 1)).astype(np.int64)
    female = rng.random(n) < np.array([p.female for p in pers])[persona]
    region = rng.choice(len(vocab.REGIONS), size=n, p=vocab.REGION_WEIGHTS)
    city_lists = list(vocab.REGIONS.values())
    city = np.array(
        [
            c[k % len(c)]
            for c, k in zip((city_lists[r] for r in region), rng.integers(0, 60, n), strict=True)
        ]
    )
    chans = list(cfg.channels.values())
    channel = rng.choice(len(chans), size=n, p=[c.share for c in chans])

    def gamma_around(mean: np.ndarray, shape: float) -> np.ndarray:
        return rng.gamma(shape, 1.0, n) * mean / shape

    activity = np.minimum(gamma_around(np.array([p.active_rate for p in pers])[persona], 1.5), 0.9)
    episode_rate = gamma_around(np.array([p.episode_rate for p in pers])[persona], 2.0)
    hazard_mult = rng.lognormal(0.0, 0.35, n)
    prev = persona_matrix_raw(cfg, "conditions", CONDITION_CODES)
    conditions = rng.random((n, len(CONDITION_CODES))) < prev[persona]
    chronic = conditions[:, :3].any(axis=1)
    poor_control = chronic & (rng.random(n) < cfg.poor_control_share)
    glucose_crisis = (
        poor_control
        & conditions[:, CONDITION_CODES.index("E11")]
        & (rng.random(n) < cfg.glucose_crisis_share / cfg.poor_control_share)
    )
    health_need = pick(rng, persona_matrix(cfg, "health_need", NEEDS), persona)
    # message response: own-channel open rate, and per message type click / order propensities
    mean_open = np.array([p.open_propensity for p in pers])[persona]
    open_p = rng.beta(2.0, 2.0 * (1 - mean_open) / mean_open)
    mts = list(cfg.message_types.values())
    click_mean = np.array([m.click_p for m in mts])
    order_mean = np.array([m.order_p for m in mts])
    click_p = rng.beta(2.0, 2.0 * (1 - click_mean) / click_mean, (n, len(mts)))
    order_p = rng.beta(2.0, 2.0 * (1 - order_mean) / order_mean, (n, len(mts)))
    return Population(
        offset=offset,
        persona=persona,
        reg_day=reg_day,
        reg_sod=reg_sod,
        age=age,
        female=female,
        region=region,
        city=city,
        channel=channel,
        managed_by=_managers(cfg, rng, persona, reg_day),
        activity=activity,
        episode_rate=episode_rate,
        hazard_mult=hazard_mult,
        conditions=conditions,
        poor_control=poor_control,
        glucose_crisis=glucose_crisis,
        health_need=health_need,
        open_p=open_p,
        click_p=click_p,
        order_p=order_p,
    )


def persona_matrix_raw(cfg: SimConfig, field: str, keys: tuple[str, ...]) -> np.ndarray:
    """Matrix [persona, key] of a persona's dict values as given (e.g. prevalences)."""
    m = np.zeros((len(cfg.personas), len(keys)))
    for i, p in enumerate(cfg.personas.values()):
        for k, w in getattr(p, field).items():
            m[i, keys.index(k)] = w
    return m


def _managers(
    cfg: SimConfig, rng: np.random.Generator, persona: np.ndarray, reg_day: np.ndarray
) -> np.ndarray:
    """Family accounts: children are run by a parent, many elderly by an adult child."""
    names = list(cfg.personas)
    managed_share = np.array([p.managed_share for p in cfg.personas.values()])[persona]
    managed = rng.random(len(persona)) < managed_share
    out = np.full(len(persona), -1, dtype=np.int64)
    for kind, pool_names in (
        ("child", ("parent",)),
        ("elderly_chronic", ("office_worker", "parent")),
    ):
        if kind not in names:
            continue
        pool = np.flatnonzero(np.isin(persona, [names.index(p) for p in pool_names if p in names]))
        who = np.flatnonzero(managed & (persona == names.index(kind)))
        if len(pool) and len(who):
            out[who] = pool[rng.integers(0, len(pool), len(who))]
    # a managed account signs up no earlier than its manager
    has = out >= 0
    reg_day[has] = np.maximum(reg_day[has], reg_day[out[has]])
    return out
