"""Import the modules that register CareOps' built-in tags (order = display order)."""

from careops.tags import behaviour, clinical, layers, profile, smart, value  # noqa: F401
