"""Shapes shared by every ingestion door.

A door (CSV, Parquet, JSON Lines, FHIR) turns its input into *staged* Arrow tables: columns named
as in `careops.schema` (values still raw: strings or numbers as found), plus `_record`, a string
that tells a person where the row came from ("row 12", "Observation/abc#component[0]"), and
optionally `_raw`, the original record as text. Records that cannot even be staged (a malformed
JSON line, a FHIR resource with no subject) become `Reject`s. Validation then types, checks and
converts the staged rows the same way for every door.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pyarrow as pa

RECORD = "_record"
RAW = "_raw"


@dataclass(frozen=True)
class Reject:
    """One record kept aside: where it came from, which field is wrong, why, and the record."""

    source: str
    record: str
    field: str | None
    reason: str
    raw: str
    table: str | None = None


@dataclass
class Staged:
    """What a door produced from one input: staged tables, rejects and what it did not map."""

    source: str
    tables: dict[str, pa.Table] = field(default_factory=dict)
    rejects: list[Reject] = field(default_factory=list)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    records: int = 0
    first_row: int = 1  # how rows without a `_record` label are numbered (2: CSV header)
