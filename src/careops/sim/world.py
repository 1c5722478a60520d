"""The hospital's fixed tables: doctors and the catalogue (services, packages, drugs, devices,
check-ups, content), plus the lookup arrays the generators index into."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from careops.schema import TABLES
from careops.sim import vocab


@dataclass(frozen=True)
class World:
    """Doctors and catalogue as Arrow tables, with per-department doctor index ranges."""

    doctors: pa.Table
    catalogue: pa.Table
    doctor_ids: np.ndarray  # str, sorted by department
    doctor_price: np.ndarray  # consult price by doctor
    doctor_title_idx: np.ndarray
    dept_doctor_start: np.ndarray  # per department index into doctor arrays
    dept_doctor_count: np.ndarray


def build_world(seed: int, start: dt.date | None = None, days: int = 0) -> World:
    """Doctors (8–30 per department, titles and prices by seniority) and the catalogue."""
    rng = np.random.default_rng([seed, 7])
    ids, names, depts, titles, prices, title_idx = [], [], [], [], [], []
    starts, counts = [], []
    title_p = np.array([t[2] for t in vocab.TITLES])
    for di, dept in enumerate(vocab.DEPARTMENT_NAMES):
        n = int(rng.integers(8, 31))
        starts.append(len(ids))
        counts.append(n)
        tix = rng.choice(len(vocab.TITLES), size=n, p=title_p)
        for k in range(n):
            ids.append(f"D{di:02d}{k:03d}")
            names.append(
                vocab.SURNAMES[rng.integers(len(vocab.SURNAMES))]
                + vocab.FIRST_NAMES[rng.integers(len(vocab.FIRST_NAMES))]
                + "医生"
            )
            depts.append(dept)
            titles.append(vocab.TITLES[tix[k]][0])
            prices.append(vocab.TITLES[tix[k]][1])
            title_idx.append(int(tix[k]))
    doctors = pa.Table.from_pydict(
        {
            "doctor_id": ids,
            "name": names,
            "department": depts,
            "title": titles,
            "specialties": _specialties(depts, seed),
        },
        schema=TABLES["doctors"].arrow_schema(),
    )
    return World(
        doctors=doctors,
        catalogue=_catalogue(np.array(ids), start, days),
        doctor_ids=np.array(ids),
        doctor_price=np.array(prices),
        doctor_title_idx=np.array(title_idx),
        dept_doctor_start=np.array(starts),
        dept_doctor_count=np.array(counts),
    )


def _specialties(depts: list[str], seed: int) -> list[str]:
    """2–3 specialty words per doctor (擅长), from their own random stream so that adding the
    column changed no other value of the simulated hospital."""
    rng = np.random.default_rng([seed, 8])
    out = []
    for dept in depts:
        words = vocab.DOCTOR_SPECIALTIES[dept]
        k = min(len(words), int(rng.integers(2, 4)))
        out.append("、".join(words[i] for i in sorted(rng.choice(len(words), k, replace=False))))
    return out


def _authorship(i: int, n: int, doctor_ids: np.ndarray, start: dt.date | None, days: int) -> dict:
    """Content item i of n: its author (every 7919th doctor in turn, no random draw, so the
    rest of the world is unchanged) and its publication, spread evenly over the year before
    the window and the window itself (12:00 UTC); none without a start date."""
    if start is None or not len(doctor_ids):
        return {}
    span = 365 + days
    day = start - dt.timedelta(days=365) + dt.timedelta(days=i * span // n)
    return {
        "author_doctor_id": str(doctor_ids[(i * 7919) % len(doctor_ids)]),
        "published_at": dt.datetime.combine(day, dt.time(12), tzinfo=dt.UTC),
    }


def _catalogue(doctor_ids: np.ndarray, start: dt.date | None = None, days: int = 0) -> pa.Table:
    rows: list[dict] = []
    for i, (title, price, _) in enumerate(vocab.TITLES):
        rows.append(
            {
                "item_id": f"SVC-CONSULT-{i}",
                "kind": "service",
                "name": f"在线图文问诊({title})",
                "price_cny": price,
            }
        )
    for pid, p in vocab.PACKAGES.items():
        rows.append(
            {
                "item_id": pid,
                "kind": "package",
                "name": p["name"],
                "department": p["department"],
                "price_cny": p["price"],
                "topic": p["topic"],
                "duration_days": p["days"],
                "entitlements": vocab.json_text(p["entitlements"]),
            }
        )
    for code, (name, price, _) in vocab.DRUGS.items():
        rows.append({"item_id": f"DRUG-{code}", "kind": "drug", "name": name, "price_cny": price})
    for sku, (name, price) in {**vocab.DEVICES, **vocab.CHECKUPS}.items():
        rows.append(
            {
                "item_id": sku,
                "kind": "device" if sku.startswith("DEV") else "service",
                "name": name,
                "price_cny": price,
            }
        )
    items = vocab.content_items()
    for i, (cid, topic) in enumerate(items):
        rows.append(
            {
                "item_id": cid,
                "kind": "content",
                "name": f"{topic}科普{cid[-2:]}",
                "topic": topic,
                "price_cny": 0.0,
                **_authorship(i, len(items), doctor_ids, start, days),
            }
        )
    schema = TABLES["catalogue"].arrow_schema()
    return pa.Table.from_pylist(rows, schema=schema)
