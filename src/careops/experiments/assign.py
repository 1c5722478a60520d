"""Deterministic assignment of users to variants, and the global control group.

Hash: the first 8 bytes of SHA-256 of the UTF-8 text `"{salt}:{user_id}"`, read as a big-endian
unsigned integer, keeping its top 53 bits and dividing by 2⁵³ → a number u in [0, 1). SHA-256 is
stable across processes, platforms and languages (DuckDB's and PostgreSQL's `sha256()` give the
same digest, so the warehouse can reproduce any assignment), and unrelated salts give independent
numbers for the same user.

- Variant: salt = experiment key; the user falls in the variant whose cumulative weight band
  contains u. Same key and user → same variant, forever.
- Global control group (全局对照组): salt = `GLOBAL_CONTROL_SALT`, fixed for the whole hospital;
  users with u < `experiments.global_control_pct` (default 5 %) receive no marketing at all, in
  any experiment or journey, so the total incremental value of operations can be measured.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

import numpy as np
import pyarrow as pa

from careops.errors import ConfigError, InputError
from careops.experiments.definition import ExperimentDefinition

GLOBAL_CONTROL_SALT = "careops-global-control"
GLOBAL_CONTROL = "global_control"
"""Label given instead of a variant to users held out in the global control group."""

_SCALE = float(2**53)


def _ids(user_ids: Iterable[object] | pa.Array | pa.ChunkedArray) -> list[str]:
    if isinstance(user_ids, pa.Array | pa.ChunkedArray):
        values = user_ids.to_pylist()
    else:
        values = list(user_ids)
    for position, value in enumerate(values):
        if value is None or (isinstance(value, str) and not value.strip()):
            msg = f"user_id at position {position} is empty; every user needs an id"
            raise InputError(msg)
    return [str(v) for v in values]


def hash_unit(salt: str, user_ids: Iterable[object] | pa.Array | pa.ChunkedArray) -> np.ndarray:
    """The stable number in [0, 1) of each user for this salt (see the module docstring)."""
    ids = _ids(user_ids)
    prefix = f"{salt}:".encode()
    digests = b"".join(hashlib.sha256(prefix + i.encode()).digest()[:8] for i in ids)
    top = np.frombuffer(digests, dtype=">u8") >> np.uint64(11)
    return top.astype(np.float64) / _SCALE


def in_global_control(
    user_ids: Iterable[object] | pa.Array | pa.ChunkedArray, pct: float | None = None
) -> np.ndarray:
    """Boolean mask of users held out of all marketing (share `pct`, default from settings)."""
    if pct is None:
        from careops.config import get_settings

        pct = get_settings().experiments.global_control_pct
    if not 0.0 <= pct < 1.0:
        msg = f"global control share must be in [0, 1), got {pct}"
        raise ConfigError(msg)
    return hash_unit(GLOBAL_CONTROL_SALT, user_ids) < pct


def bucket(units: np.ndarray, weights: Sequence[float]) -> np.ndarray:
    """Index of the weight band each u in [0, 1) falls in (weights already validated)."""
    edges = np.cumsum(np.asarray(weights, dtype=float))
    index = np.searchsorted(edges, units, side="right")
    return np.minimum(index, len(weights) - 1)  # guards u just under 1 against rounding


def assign(
    user_ids: Iterable[object] | pa.Array | pa.ChunkedArray,
    experiment: ExperimentDefinition,
    global_control_pct: float | None = None,
    respect_global_control: bool = True,
) -> pa.Array:
    """Variant name of each user (an Arrow string array, same order as `user_ids`).

    Users in the global control group get `GLOBAL_CONTROL` instead of a variant when
    `respect_global_control` (marketing experiments); product experiments may pass False.
    """
    ids = _ids(user_ids)
    names = [v.name for v in experiment.variants]
    index = bucket(hash_unit(experiment.key, ids), [v.weight for v in experiment.variants])
    if respect_global_control:
        index = np.where(in_global_control(ids, global_control_pct), len(names), index)
    return pa.array([*names, GLOBAL_CONTROL], type=pa.string()).take(pa.array(index))
