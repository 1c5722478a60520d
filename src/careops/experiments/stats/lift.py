"""Absolute and relative lift with their standard errors (relative by the delta method)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from careops.experiments.stats.statistics import Moments


@dataclass(frozen=True, slots=True)
class Lift:
    """Point estimates and standard errors of treatment − control and of (t − c) / c."""

    absolute: float
    absolute_se: float
    relative: float | None
    relative_se: float | None


def lift(control: Moments, treatment: Moments) -> Lift:
    """Lift of treatment over control for two independent arms.

    The relative lift r = m_t / m_c − 1 has, to first order (delta method; Kohavi, Tang & Xu,
    *Trustworthy Online Controlled Experiments*, 2020, §18),
    Var(r) ≈ v_t / (n_t m_c²) + m_t² v_c / (n_c m_c⁴).
    """
    var_c = control.variance / control.n
    var_t = treatment.variance / treatment.n
    absolute = treatment.mean - control.mean
    absolute_se = math.sqrt(var_c + var_t)
    if control.mean == 0:
        return Lift(absolute, absolute_se, None, None)
    relative = treatment.mean / control.mean - 1.0
    relative_var = var_t / control.mean**2 + treatment.mean**2 * var_c / control.mean**4
    return Lift(absolute, absolute_se, relative, math.sqrt(relative_var))
