"""Errors of the tag and layer domain (all `CareOpsError`, so the CLI prints them cleanly)."""

from careops.errors import InvalidInput


class TagError(InvalidInput):
    """A tag request cannot be answered: unknown tag, bad as-of date, missing snapshot."""
