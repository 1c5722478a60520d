"""Churn within a horizon (SPEC §4): features as of a date, LightGBM with isotonic calibration,
per-patient reasons from `pred_contrib`; see `model.py` and docs/models.md."""
