"""Synthetic contact details of simulated patients, made so that none can be a real person's.

Each patient gets, as extra columns of `patients.parquet` named `contacts.<field>` (how a
hospital's export carries them, and what ingestion recognises and seals into the warehouse's
`contacts` table when `privacy.contacts_key` is set, or drops otherwise):
- `contacts.name`: a common surname and a one- or two-character given name from a small
  vocabulary (names are not unique to anyone; they are never real records);
- `contacts.phone`: 12 + 9 digits. No 11-digit subscriber number is issued in the 12x block
  (it holds public-service short numbers: 12315, 12345, 12320), so none reaches a person; never
  dial or message them;
- `contacts.id_number`: an 18-character resident id with the area code 99 (no GB/T 2260 code
  starts with 9), the patient's birth date, a sequence whose parity follows the sex, and a
  deliberately WRONG ISO 7064 check digit: no issued id can equal it
  (`careops.privacy.identifiers.synthetic_resident_id` recognises it, and it is masked and
  sealed like any id);
- `contacts.email` (about 40 %): an address at example.com, a domain reserved for examples
  (RFC 2606).

They come from a random stream of their own (seed, chunk, 2), so every other table and the
ground truth are exactly as without them.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

from careops.privacy.identifiers import CHECK_CHARS, SYNTHETIC_AREA, check_digit
from careops.sim import vocab
from careops.sim.context import Chunk

EMAIL_SHARE = 0.4
COLUMNS = ("contacts.name", "contacts.phone", "contacts.id_number", "contacts.email")


def synthetic_contacts(ch: Chunk, patients: pa.Table) -> dict[str, pa.Array]:
    """The `contacts.*` columns for the chunk's `patients` rows (same order)."""
    rng = np.random.default_rng([ch.cfg.seed, ch.index + 1, 2])
    n = patients.num_rows
    surnames, given = vocab.SURNAMES, vocab.FIRST_NAMES
    s = rng.integers(0, len(surnames), n)
    g1 = rng.integers(0, len(given), n)
    g2 = rng.integers(0, len(given), n)
    two = rng.random(n) < 0.6
    names = [
        surnames[a] + given[b] + (given[c] if t else "")
        for a, b, c, t in zip(s, g1, g2, two, strict=True)
    ]
    phones = [f"12{p:09d}" for p in rng.integers(0, 1_000_000_000, n)]
    area = rng.integers(0, 10_000, n)
    seq = rng.integers(0, 500, n) * 2  # even: female; +1 below for male
    wrong = rng.integers(1, 11, n)  # 1..10 steps away from the right check character
    births = patients["birth_date"].to_pylist()
    sexes = patients["sex"].to_pylist()
    ids = [
        _id(a, b or dt.date(1980, 1, 1), q + (x != "F"), w)
        for a, b, q, x, w in zip(area, births, seq, sexes, wrong, strict=True)
    ]
    users = patients["user_id"].to_pylist()
    has_mail = rng.random(n) < EMAIL_SHARE
    emails = [
        f"{u.lower()}@example.com" if m else None for u, m in zip(users, has_mail, strict=True)
    ]
    return {
        "contacts.name": pa.array(names, pa.string()),
        "contacts.phone": pa.array(phones, pa.string()),
        "contacts.id_number": pa.array(ids, pa.string()),
        "contacts.email": pa.array(emails, pa.string()),
    }


def _id(area: int, birth: dt.date, seq: int, wrong: int) -> str:
    first17 = f"{SYNTHETIC_AREA}{area:04d}{birth:%Y%m%d}{seq:03d}"
    right = CHECK_CHARS.index(check_digit(first17))
    return first17 + CHECK_CHARS[(right + wrong) % 11]


def with_contacts(ch: Chunk, patients: pa.Table) -> pa.Table:
    """`patients` with the synthetic `contacts.*` columns appended."""
    for name, values in synthetic_contacts(ch, patients).items():
        patients = patients.append_column(name, values)
    return patients
