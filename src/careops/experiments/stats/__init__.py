"""Experiment statistics over sufficient statistics.

The warehouse aggregates each arm to a few sums (n, Σy, Σy², and for CUPED Σx, Σx², Σxy);
the modules here do only the maths on those sums. Data problems (an empty arm, zero variance)
come back as results carrying an error code, never as exceptions.
"""
