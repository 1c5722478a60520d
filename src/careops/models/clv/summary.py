"""Per-customer recency/frequency/monetary summaries for BG/NBD and Gamma-Gamma, in numpy.

A purchase is a customer's purchase **day**: several orders on one day are one purchase whose
value is their sum (BG/NBD counts purchase occasions; the CDNOW figures are reproduced this way).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Summary:
    """Per customer, in the chosen unit of time (days / `unit_days`).

    x: repeat purchases after the first, up to the end of calibration; t_x: time from the first
    purchase to the last; T: time from the first purchase to the end of calibration.
    spend_n, spend_mean: the repeat purchases and their mean value (Gamma-Gamma input; the first
    purchase is left out as in Fader, Hardie & Lee 2005), None without amounts.
    """

    customer: np.ndarray
    x: np.ndarray
    t_x: np.ndarray
    T: np.ndarray
    first_day: np.ndarray
    spend_n: np.ndarray | None = None
    spend_mean: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.x)


def purchase_days(customer: np.ndarray, day: np.ndarray, amount: np.ndarray | None):
    """Orders collapsed to (customer code, day, summed amount), sorted by customer then day;
    with the customer ids behind the codes."""
    ids, code = np.unique(customer, return_inverse=True)
    code = code.ravel().astype(np.int64)
    span = int(day.max() - day.min()) + 1 if len(day) else 1
    key = code * span + (day - (day.min() if len(day) else 0))
    ukey, inv = np.unique(key, return_inverse=True)
    total = np.bincount(inv.ravel(), weights=amount) if amount is not None else None
    return ids, ukey // span, ukey % span + (day.min() if len(day) else 0), total


def summarise(
    customer: np.ndarray,
    day: np.ndarray,
    amount: np.ndarray | None,
    *,
    end_day: int,
    unit_days: float,
) -> Summary:
    """The calibration summary of purchases on or before `end_day` (inclusive)."""
    keep = day <= end_day
    ids, code, pday, total = purchase_days(
        customer[keep], day[keep], None if amount is None else amount[keep]
    )
    starts = np.flatnonzero(np.r_[True, code[1:] != code[:-1]])  # sorted by (code, day)
    counts = np.diff(np.r_[starts, len(code)])
    first = pday[starts]
    last = pday[starts + counts - 1]
    present = code[starts]
    x = (counts - 1).astype(np.float64)
    spend_n = spend_mean = None
    if total is not None:
        per_customer = np.add.reduceat(total, starts) if len(starts) else np.zeros(0)
        repeat_sum = per_customer - total[starts]
        spend_n = x.copy()
        with np.errstate(invalid="ignore", divide="ignore"):
            spend_mean = np.where(x > 0, repeat_sum / np.maximum(x, 1), 0.0)
    return Summary(
        customer=ids[present],
        x=x,
        t_x=(last - first) / unit_days,
        T=(end_day - first) / unit_days,
        first_day=first,
        spend_n=spend_n,
        spend_mean=spend_mean,
    )


def holdout_counts(
    summary: Summary, customer: np.ndarray, day: np.ndarray, *, start_day: int, end_day: int
) -> np.ndarray:
    """Purchase days in (start_day, end_day] of each customer of `summary` (others ignored)."""
    keep = (day > start_day) & (day <= end_day)
    counts = np.zeros(len(summary), dtype=np.float64)
    if not keep.any():
        return counts
    ids, code, _, _ = purchase_days(customer[keep], day[keep], None)
    per = np.bincount(code, minlength=len(ids))
    pos = np.searchsorted(summary.customer, ids)  # summary.customer is sorted (np.unique)
    pos = np.clip(pos, 0, max(len(summary) - 1, 0))
    found = (len(summary) > 0) & (summary.customer[pos] == ids)
    np.add.at(counts, pos[found], per[found])
    return counts
