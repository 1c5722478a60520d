"""Growth points, levels, coupons (SPEC §8) and referral (裂变); see docs/points.md."""
