"""The CDNOW sample (tests/data/cdnow/README.md) as arrays and as the CLI reads it."""

from __future__ import annotations

import csv
from datetime import date
from functools import cache
from pathlib import Path

import numpy as np

from careops.models.clv.transactions import TransactionLog, read_log

DATA = Path(__file__).parents[1] / "data" / "cdnow"
TRANSACTIONS = DATA / "cdnow_sample.csv"
SUMMARY = DATA / "cdnow_summary.csv"
CALIBRATION_END = date(1997, 9, 30)  # end of week 39 (1997-01-01 + 273 days, inclusive)
HOLDOUT_END = date(1998, 6, 30)  # 39 more weeks
TODAY = date(2026, 12, 1)


@cache
def log() -> TransactionLog:
    return read_log(
        TRANSACTIONS,
        customer_col="sample_id",
        date_col="date",
        amount_col="amount",
        date_format="%Y%m%d",
        today=TODAY,
    )


@cache
def published_summary() -> dict[str, np.ndarray]:
    """Hardie's per-customer summary: x, t_x, T (weeks) and zbar (mean repeat spend)."""
    with SUMMARY.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return {k: np.array([float(r[k]) for r in rows]) for k in ("x", "t_x", "T", "zbar")}
