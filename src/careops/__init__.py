"""CareOps: the operations platform of an internet hospital."""

__version__ = "0.1.0"
