"""Value layer: RFM scores, health contribution, value tier and LTV tier at their cut-offs."""

from datetime import date

import pytest

from careops.tags.compute import compute_tags
from tests.tags.conftest import by_user
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
TAGS = [
    "rfm_recency",
    "rfm_frequency",
    "rfm_monetary",
    "rfm_score",
    "health_contribution",
    "spend_cny",
    "paid_orders",
    "repurchase_confirmed",
    "high_spend_unconfirmed",
    "ltv_tier",
    "value",
]


@pytest.fixture(scope="module")
def tags(module_duck):
    h = Hospital(AS_OF)
    h.patient("r30").order("r30", 30, 10.0)
    h.patient("r31").order("r31", 31, 10.0)
    h.patient("r365").order("r365", 365, 10.0)
    h.patient("r366").order("r366", 366, 10.0)
    # LTV cut-offs: > 1000 is high (with a repurchase), 300–1000 mid, < 300 low
    h.patient("ltv1000").order("ltv1000", 5, 500.0).order("ltv1000", 9, 500.0)
    h.patient("ltv1000p").order("ltv1000p", 5, 500.0).order("ltv1000p", 9, 500.01)
    h.patient("single").order("single", 5, 1500.0)
    h.patient("ltv300").order("ltv300", 5, 300.0)
    h.patient("ltv299").order("ltv299", 5, 299.99)
    h.patient("refund").order("refund", 5, 2000.0, status="refunded").order("refund", 6, 50.0)
    # value tier: R5 F5 M5 = 15 → high
    h.patient("top")
    for i in range(8):
        h.order("top", 1 + i, 400.0)
    # one big purchase + many shares: score 14 but no repurchase → mid, not high
    h.patient("oneoff").order("oneoff", 1, 5000.0)
    for i in range(6):
        h.event("oneoff", 1 + i, "share")
    # R5 F2 M4 = 11; one share (+1) reaches 12 → high; without it → mid
    h.patient("sharer").order("sharer", 1, 500.0).order("sharer", 2, 500.0).event(
        "sharer", 3, "share"
    )
    h.patient("nosharer").order("nosharer", 1, 500.0).order("nosharer", 2, 500.0)
    h.patient("nobody")
    # exactly ¥1000.00 in cents, but 999.9999999999999 as a float sum in every order
    h.patient("m1000")
    for i, amount in enumerate((149.42, 554.55, 296.03)):
        h.order("m1000", 10 + i, amount)
    h.load(module_duck)
    return by_user(compute_tags(module_duck, AS_OF, TAGS))


def test_recency_score_cutoffs(tags):
    assert tags["r30"]["rfm_recency"] == 5
    assert tags["r31"]["rfm_recency"] == 4
    assert tags["r365"]["rfm_recency"] == 1
    assert tags["r366"]["rfm_recency"] == 0
    assert tags["nobody"]["rfm_score"] == 0


@pytest.mark.parametrize(
    ("user", "tier"),
    [
        ("ltv1000", "ltv_mid"),
        ("ltv1000p", "ltv_high"),
        ("single", "ltv_mid"),
        ("ltv300", "ltv_mid"),
        ("ltv299", "ltv_low"),
        ("refund", "ltv_low"),
        ("nobody", "ltv_low"),
    ],
)
def test_ltv_tiers(tags, user, tier):
    assert tags[user]["ltv_tier"] == tier


def test_single_purchase_high_spender_is_not_high_value(tags):
    one = tags["oneoff"]
    assert one["high_spend_unconfirmed"] is True
    assert one["repurchase_confirmed"] is False
    assert one["rfm_score"] == 5 + 1 + 5
    assert one["health_contribution"] == 3
    assert one["value"] == "mid"
    assert tags["top"]["value"] == "high"
    assert tags["top"]["rfm_score"] == 15


def test_health_contribution_tips_the_value_tier(tags):
    assert tags["sharer"]["rfm_score"] == 11
    assert tags["sharer"]["health_contribution"] == 1
    assert tags["sharer"]["value"] == "high"
    assert tags["nosharer"]["value"] == "mid"
    assert tags["nobody"]["value"] == "low"


def test_refunds_are_not_spend(tags):
    assert tags["refund"]["spend_cny"] == pytest.approx(50.0)
    assert tags["refund"]["paid_orders"] == 1


def test_spend_is_summed_exactly_in_cents(tags):
    # a float sum would miss the ¥1000 cut-off (M 3) and depend on the summation order
    assert tags["m1000"]["spend_cny"] == 1000.0
    assert tags["m1000"]["rfm_monetary"] == 4
    assert tags["m1000"]["ltv_tier"] == "ltv_mid"
