"""Predictive models (smart tags): customer lifetime value in `careops.models.clv`."""
