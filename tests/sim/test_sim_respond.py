"""`respond()` turns sends into the opens, clicks, visits and orders the hidden traits imply."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from careops.errors import InputError
from careops.sim.respond import respond
from careops.sim.validate import check_table

FAR = dt.datetime(2100, 1, 1, tzinfo=dt.UTC)


def _truth(out):
    return pq.read_table(out / "ground_truth" / "users.parquet").to_pandas()


def _sends(truth, when: dt.datetime, mtype: str = "coupon", own_channel: bool = True):
    alive = truth[(truth.true_stop_date > when.date() + dt.timedelta(days=1))]
    return [
        {
            "user_id": u,
            "ts": when,
            "message_type": mtype,
            "channel": c if own_channel else ("sms" if c != "sms" else "wechat"),
        }
        for u, c in zip(alive.user_id, alive.preferred_channel, strict=True)
    ]


def test_caused_visits_per_send_match_the_true_uplift(small_out):
    """Large sample: mean caused visits ≈ mean `uplift_visit_<type>` (binomial 4-sigma band)."""
    truth = _truth(small_out).set_index("user_id")
    when0 = dt.datetime(2025, 8, 1, 4, tzinfo=dt.UTC)
    sends = []
    for k in range(30):  # repeated sends to the same users are independent draws
        sends += _sends(truth.reset_index(), when0 + dt.timedelta(minutes=k))
    got = respond(sends, small_out, seed=5)
    visits = pc.sum(pc.equal(got["events"].column("name"), "app_open")).as_py()
    users = [s["user_id"] for s in sends]
    p = truth.loc[users, "uplift_visit_coupon"].to_numpy()
    expected, sd = p.sum(), np.sqrt((p * (1 - p)).sum())
    assert len(sends) > 4000
    assert abs(visits - expected) < 4 * sd
    orders = got["orders"].num_rows
    q = truth.loc[users, "uplift_order_coupon"].to_numpy()
    assert abs(orders - q.sum()) < 4 * np.sqrt((q * (1 - q)).sum()) + 1


def test_same_seed_same_answer_whatever_the_order(small_out):
    truth = _truth(small_out)
    sends = _sends(truth, dt.datetime(2025, 7, 1, 4, tzinfo=dt.UTC), "content")[:400]
    a = respond(sends, small_out, seed=1)
    b = respond(list(reversed(sends)), small_out, seed=1)
    c = respond(sends, small_out, seed=2)
    key = ["event_id"]
    assert (
        a["events"]
        .sort_by([(k, "ascending") for k in key])
        .equals(b["events"].sort_by([(k, "ascending") for k in key]))
    )
    assert not a["events"].equals(c["events"])


def test_off_channel_and_stopped_users_respond_less(small_out):
    truth = _truth(small_out)
    when = dt.datetime(2025, 7, 1, 4, tzinfo=dt.UTC)
    own = respond(_sends(truth, when) * 4, small_out, seed=3)
    off = respond(_sends(truth, when, own_channel=False) * 4, small_out, seed=3)
    n_own = own["events"].num_rows
    assert off["events"].num_rows < 0.75 * n_own


def test_output_is_canonical_and_ingestible(small_out):
    truth = _truth(small_out)
    got = respond(
        _sends(truth, dt.datetime(2025, 7, 1, 4, tzinfo=dt.UTC), "renewal_offer"), small_out, seed=4
    )
    for name in ("events", "orders"):
        assert check_table(name, got[name], FAR, FAR.date()) == []
    names = set(got["events"].column("name").to_pylist())
    assert {"message_open", "message_click", "app_open"} <= names
    assert set(got["orders"].column("category").to_pylist()) <= {"package"}


@pytest.mark.parametrize(
    ("sends", "field"),
    [
        (
            [
                {
                    "user_id": "U00000001",
                    "ts": dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
                    "message_type": "coupon",
                }
            ],
            "channel",
        ),
        (
            [
                {
                    "user_id": "nobody",
                    "ts": dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
                    "message_type": "coupon",
                    "channel": "sms",
                }
            ],
            "user_id",
        ),
        (
            [
                {
                    "user_id": "U00000001",
                    "ts": dt.datetime(2025, 7, 1),
                    "message_type": "coupon",
                    "channel": "sms",
                }
            ],
            "ts",
        ),
        (
            [
                {
                    "user_id": "U00000001",
                    "ts": dt.datetime(2025, 7, 1, tzinfo=dt.UTC),
                    "message_type": "spam",
                    "channel": "sms",
                }
            ],
            "message_type",
        ),
    ],
)
def test_bad_sends_name_the_field(small_out, sends, field):
    with pytest.raises(InputError, match=f"sends.*{field}"):
        respond(sends, small_out)


def test_sends_as_arrow_table(small_out):
    t = pa.table(
        {
            "user_id": ["U00000001"],
            "ts": pa.array([dt.datetime(2025, 7, 1, tzinfo=dt.UTC)], pa.timestamp("us", tz="UTC")),
            "channel": ["sms"],
            "message_type": ["coupon"],
            "send_id": ["X1"],
        }
    )
    got = respond(t, small_out)
    assert all(e.startswith("X1-") for e in got["events"].column("event_id").to_pylist())


def test_unopened_marketing_sends_sometimes_opt_out_on_their_channel(small_out):
    """Opt-outs follow only unopened marketing sends, at about `optout_unwanted_p` of them."""
    truth = _truth(small_out)
    when = dt.datetime(2025, 8, 1, 4, tzinfo=dt.UTC)
    sends = []
    for k in range(40):
        sends += _sends(truth, when + dt.timedelta(minutes=k), "content")
    got = respond(sends, small_out, seed=9)
    optouts = got["consents"]
    assert check_table("consents", optouts, FAR, FAR.date()) == []
    opened = pc.sum(pc.equal(got["events"].column("name"), "message_open")).as_py()
    unopened = len(sends) - opened
    p = 0.004
    assert abs(optouts.num_rows - p * unopened) < 4 * np.sqrt(p * (1 - p) * unopened) + 1
    assert set(optouts.column("granted").to_pylist()) <= {0}
    assert set(optouts.column("purpose").to_pylist()) <= {"marketing"}
    assert pc.min(optouts.column("ts")).as_py() > when
    service = [s | {"purpose": "service"} for s in sends]
    assert respond(service, small_out, seed=9)["consents"].num_rows == 0
