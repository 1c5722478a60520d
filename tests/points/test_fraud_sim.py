"""Referral fraud guards on simulated sign-ups: the simulator records each referral sign-up's
device id and phone and plants a ring of 12 fake accounts (3 shared devices, one phone block,
2 inviters); every sign-up goes through the real door (`referral.attribute`) in time order.

Measured on this seed (and asserted): the guards flag 6 of the 12 ring accounts and none of
the ~200 honest sign-ups — precision 1.0, recall 6/12 = 0.5. By design the first
`max_per_device` (2) sign-ups on a device and an inviter's first `max_per_phone_prefix` (3) of
one phone block pass: the ring's first 6 accounts (2 per device, 3 per inviter) are exactly
those; the guards withhold rewards from the excess, they do not judge the first ones."""

from __future__ import annotations

import datetime as dt

import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from careops.points import referral
from careops.points.referral_store import referral_signups
from careops.service import Ops
from careops.sim import SimConfig, simulate


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    root = tmp_path_factory.mktemp("fraud-sim")
    cfg = SimConfig(users=1500, days=120, seed=11, start=dt.date(2025, 1, 1), chunk_users=1000)
    simulate(cfg, root / "sim")
    return root / "sim"


def test_signups_match_the_patients_and_the_ring_is_planted(sim):
    signups = pq.read_table(sim / "ground_truth" / "referral_signups.parquet").to_pylist()
    ring = pq.read_table(sim / "ground_truth" / "referral_ring.parquet").to_pylist()
    patients = pq.read_table(sim / "patients.parquet", columns=["user_id", "referrer_id"])
    referred = {r["user_id"]: r["referrer_id"] for r in patients.to_pylist() if r["referrer_id"]}
    fakes = {r["invitee_id"] for r in ring if r["ring"]}
    honest = {s["invitee_id"]: s["inviter_id"] for s in signups if s["invitee_id"] not in fakes}
    assert honest == referred  # every referred patient, with the patients table's inviter
    assert len(fakes) == 12 and not fakes & set(referred)
    ring_rows = [s for s in signups if s["invitee_id"] in fakes]
    assert len({s["device_id"] for s in ring_rows}) == 3
    assert len({s["phone"][:7] for s in ring_rows}) == 1
    assert len({s["inviter_id"] for s in ring_rows}) == 2
    assert {s["inviter_id"] for s in ring_rows} <= set(referred.values())
    honest_devices = [s["device_id"] for s in signups if s["invitee_id"] not in fakes]
    assert len(set(honest_devices)) == len(honest_devices)


def test_guards_catch_the_ring_and_not_honest_users(sim, tmp_path):
    signups = pq.read_table(sim / "ground_truth" / "referral_signups.parquet").to_pylist()
    ring = {r["invitee_id"] for r in pq.read_table(sim / "ground_truth/referral_ring.parquet")
            .to_pylist() if r["ring"]}  # fmt: skip
    ops = Ops.open(
        warehouse=f"duckdb:///{tmp_path / 'w.duckdb'}", state=f"sqlite:///{tmp_path}/s.db"
    )
    try:
        for s in sorted(signups, key=lambda s: s["signed_up_at"]):
            at = s["signed_up_at"]
            code = referral.create_code(
                ops, s["inviter_id"], at=at - dt.timedelta(hours=1), verify=False
            )
            referral.attribute(
                ops, s["invitee_id"], code.code, at=at, device_id=s["device_id"], phone=s["phone"]
            )
        with ops.state.connect() as conn:
            rows = conn.execute(
                sa.select(referral_signups.c.invitee_id, referral_signups.c.status)
            ).all()
    finally:
        ops.close()
    flagged = {r.invitee_id for r in rows if r.status == "suspect"}
    assert len(rows) == len(signups)
    true_pos = len(flagged & ring)
    precision = true_pos / len(flagged)
    recall = true_pos / len(ring)
    assert (precision, true_pos, len(ring)) == (1.0, 6, 12), (flagged - ring, ring - flagged)
    assert recall == 0.5
    # the honest sign-ups (≈ 200 on this seed) all pass
    assert len(rows) - len(ring) > 150 and not (flagged - ring)
