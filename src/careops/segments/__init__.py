"""Segments: a rule language over tags and events, compiled to Ibis, and saved segments."""

from careops.segments.evaluate import count, export, members, sample
from careops.segments.rules import parse_rule

__all__ = ["count", "export", "members", "parse_rule", "sample"]
