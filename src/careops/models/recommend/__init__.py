"""Recommendations (SPEC §4): implicit-feedback ALS over views, consultations and orders, a
popularity/rule fallback for new patients, medical constraints as data (`data/rules.yaml`)."""
