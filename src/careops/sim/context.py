"""What every table builder of one chunk needs: config, population, trace, world, randomness."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim import vocab
from careops.sim.config import SimConfig
from careops.sim.engine import Trace
from careops.sim.population import Population, pick
from careops.sim.world import World


@dataclass
class Chunk:
    """One chunk of users being turned into rows."""

    cfg: SimConfig
    index: int
    pop: Population
    trace: Trace
    world: World
    rng: np.random.Generator
    referrer: np.ndarray | None = None  # chunk index of each user's inviter, -1 = none

    def uid(self, idx: np.ndarray) -> pa.Array:
        return au.user_ids(self.pop.offset, idx)

    def ids(self, prefix: str, n: int) -> pa.Array:
        return au.chunk_ids(prefix, self.index, n)

    def sod(self, u: np.ndarray, t: np.ndarray) -> np.ndarray:
        """A second of the local day in the user's usual hours, never before their sign-up."""
        hours = np.stack([vocab.HOUR_PROFILES[p.hours] for p in self.cfg.personas.values()])
        s = pick(self.rng, hours, self.pop.persona[u]) * 3600 + self.rng.integers(0, 3600, len(u))
        first = t == self.pop.reg_day[u]
        return np.where(first, np.maximum(s, self.pop.reg_sod[u] + 30), s).clip(0, 86_399)

    def ts(self, t: np.ndarray, sod: np.ndarray) -> np.ndarray:
        """UTC microseconds of window day t at local second-of-day sod."""
        return au.timestamps(self.cfg.start, self.cfg.timezone_offset_hours, t, sod)

    @property
    def end_us(self) -> int:
        """The window end (exclusive) in UTC microseconds."""
        return int(self.ts(np.array([self.cfg.days]), np.array([0]))[0])

    def doctor_in(self, dept: np.ndarray) -> np.ndarray:
        """A random doctor (index) of each department."""
        w = self.world
        return w.dept_doctor_start[dept] + (
            self.rng.random(len(dept)) * w.dept_doctor_count[dept]
        ).astype(np.int64)
