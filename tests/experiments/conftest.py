"""Shared per-user data for the experiment tests."""

import numpy as np
import pyarrow as pa
import pytest


@pytest.fixture(scope="session")
def users() -> pa.Table:
    """6 000 simulated users: three variants, spend with a pre-period covariate, a 0/1 renewal."""
    rng = np.random.default_rng(2026)
    n = 6000
    group = rng.choice(["control", "coupon", "sms"], n, p=[0.4, 0.3, 0.3])
    pre = rng.gamma(2.0, 50.0, n)
    spend = 0.6 * pre + rng.gamma(2.0, 20.0, n) + 6.0 * (group == "coupon")
    renewed = (rng.random(n) < 0.30 + 0.04 * (group == "sms")).astype(np.int64)
    return pa.table(
        {
            "user_id": [f"P{i:06d}" for i in range(n)],
            "group": group,
            "spend": spend,
            "pre_spend": pre,
            "renewed": renewed,
        }
    )
