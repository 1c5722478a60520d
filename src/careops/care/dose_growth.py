"""Is a body weight plausible for an age? Bounds from published weight-for-age references.

`data/dose_weight_for_age.csv` holds the LMS parameters of weight-for-age by whole month and
sex: the WHO Child Growth Standards 2006 (0–60 months), the WHO Growth Reference 2007 (61–120
months; WHO publishes no weight-for-age past 10 years) and the CDC 2000 growth charts (121–215
months). A weight is refused as implausible when it lies beyond the cut-offs each reference's
publisher uses to flag biologically implausible values:

- WHO (WHO Anthro / AnthroPlus manuals): weight-for-age z-score below −6 or above +5, the
  z-score computed as WHO does, with the LMS curve restricted beyond ±3 SD (the distance
  between 2 and 3 SD carried on linearly);
- CDC (the CDC growth-chart SAS program): modified z-score below −5 or above +8, where the
  modified z-score measures the distance from the median in half the distance between the
  median and ±2 z.

The sex is not asked, so the bound of an age is the wider of the two sexes'; a fractional age
takes the wider of its two neighbouring months.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from typing import Literal

Reference = Literal["who2006", "who2007", "cdc2000"]
#: (lowest, highest) z-score accepted, per reference (see the module docstring)
CUTOFFS: dict[Reference, tuple[float, float]] = {
    "who2006": (-6.0, 5.0),
    "who2007": (-6.0, 5.0),
    "cdc2000": (-5.0, 8.0),
}
LAST_MONTH = 215


@dataclass(frozen=True)
class LMS:
    """Box-Cox power (L), median (M) and coefficient of variation (S) at one age and sex."""

    L: float
    M: float
    S: float
    reference: Reference

    def at_z(self, z: float) -> float:
        """The weight at z-score `z` on the LMS curve itself (no restriction)."""
        if self.L == 0:
            import math

            return self.M * math.exp(self.S * z)
        return self.M * (1 + self.L * self.S * z) ** (1 / self.L)

    def weight_at(self, z: float) -> float:
        """The weight the reference's own z-score (WHO) or modified z-score (CDC) puts at `z`."""
        if self.reference == "cdc2000":
            half = (self.at_z(2) - self.M) / 2 if z >= 0 else (self.M - self.at_z(-2)) / 2
            return self.M + z * half
        if -3 <= z <= 3:
            return self.at_z(z)
        if z > 3:
            sd3 = self.at_z(3)
            return sd3 + (z - 3) * (sd3 - self.at_z(2))
        sd3 = self.at_z(-3)
        return sd3 + (z + 3) * (self.at_z(-2) - sd3)


@lru_cache(maxsize=1)
def table() -> dict[tuple[int, str], LMS]:
    """The shipped LMS table by (month, sex)."""
    text = resources.files("careops.care").joinpath("data/dose_weight_for_age.csv").read_text()
    rows = csv.DictReader(line for line in text.splitlines() if not line.startswith("#"))
    return {
        (int(r["month"]), r["sex"]): LMS(
            float(r["L"]),
            float(r["M"]),
            float(r["S"]),
            r["reference"],  # type: ignore[arg-type]
        )
        for r in rows
    }


@lru_cache(maxsize=512)
def _month_bounds(month: int) -> tuple[float, float]:
    lows, highs = [], []
    for sex in ("M", "F"):
        lms = table()[(month, sex)]
        low_z, high_z = CUTOFFS[lms.reference]
        lows.append(lms.weight_at(low_z))
        highs.append(lms.weight_at(high_z))
    return min(lows), max(highs)


def weight_bounds(age_months: float) -> tuple[float, float]:
    """(lowest, highest) plausible weight in kg at `age_months` (0 ≤ age < 216), rounded
    outwards to 0.1 kg."""
    import math

    if not 0 <= age_months < LAST_MONTH + 1:
        raise ValueError(f"age_months out of 0–{LAST_MONTH + 1}: {age_months}")
    months = {min(math.floor(age_months), LAST_MONTH), min(math.ceil(age_months), LAST_MONTH)}
    low = min(_month_bounds(m)[0] for m in months)
    high = max(_month_bounds(m)[1] for m in months)
    return math.floor(low * 10) / 10, math.ceil(high * 10) / 10


def reference_of(age_months: float) -> Reference:
    """Which growth reference covers `age_months`."""
    return table()[(min(int(age_months), LAST_MONTH), "M")].reference
