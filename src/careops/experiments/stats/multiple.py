"""Corrections for testing many variants and metrics at once.

Holm (1979) controls the family-wise error rate and is uniformly better than Bonferroni;
Benjamini–Hochberg (1995) controls the false discovery rate. Both return adjusted p-values to be
compared with the unchanged alpha; NaN p-values (failed comparisons) stay NaN and do not count.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from careops.experiments.stats.settings import Correction


def _on_valid(p_values: npt.ArrayLike, adjust_sorted) -> np.ndarray:
    """Apply `adjust_sorted` (ascending p-values, m → adjusted) to the non-NaN p-values only,
    returning them in their original places (NaN stays NaN and does not count in m)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    m = int(ok.sum())
    if m == 0:
        return out
    order = np.argsort(p[ok])
    result = np.empty(m)
    result[order] = adjust_sorted(p[ok][order], m)
    out[ok] = result
    return out


def holm(p_values: npt.ArrayLike) -> np.ndarray:
    """Holm step-down adjusted p-values: max over j ≤ i of (m − j + 1) p_(j), capped at 1."""
    return _on_valid(
        p_values,
        lambda ranked, m: np.minimum(np.maximum.accumulate(ranked * (m - np.arange(m))), 1.0),
    )


def benjamini_hochberg(p_values: npt.ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg step-up adjusted p-values: min over j ≥ i of m p_(j) / j, capped at 1."""

    def step_up(ranked: np.ndarray, m: int) -> np.ndarray:
        scaled = ranked * m / np.arange(1, m + 1)
        return np.minimum(np.minimum.accumulate(scaled[::-1])[::-1], 1.0)

    return _on_valid(p_values, step_up)


def adjust_p_values(p_values: npt.ArrayLike, method: Correction) -> np.ndarray:
    """Adjust with the chosen correction (`none` returns a copy)."""
    if method == "holm":
        return holm(p_values)
    if method == "bh":
        return benjamini_hochberg(p_values)
    return np.asarray(p_values, dtype=float).copy()
