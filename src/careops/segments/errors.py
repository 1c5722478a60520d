"""Errors of segment rules: always say what is wrong and where."""

from careops.errors import InvalidInput


class RuleError(InvalidInput):
    """A segment rule cannot be read or does not fit the tags it names."""
