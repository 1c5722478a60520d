"""Errors of the tag and layer domain (all `CareOpsError`, so the CLI prints them cleanly)."""

from careops.errors import CareOpsError


class TagError(CareOpsError):
    """A tag request cannot be answered: unknown tag, bad as-of date, missing snapshot."""
