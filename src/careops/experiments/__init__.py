"""Experiments: definitions, deterministic assignment, and the statistics that read the results."""
