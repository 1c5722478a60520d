"""What recommendations learn from, read from the warehouse as of a date (facts before it only).

Interactions (implicit feedback), one weight per (patient, item):
- `events` `view_content` {content_id} and `view_doctor` {doctor_id}: weight 1 each;
- `consultations` with a doctor: weight 4 (the doctor);
- paid `orders` of catalogue items (services, packages, devices, check-ups): weight 4.
Drugs are read nowhere here: they are never recommended. Items are the catalogue (services,
packages, content, devices — a device is recommended as a service) and the doctors.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import ibis
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings
from careops.models.recommend.rules import Items, Patients

KINDS = ("service", "package", "content", "doctor")
KIND_ZH = {"service": "服务", "package": "服务包", "content": "内容", "doctor": "医生"}
#: catalogue kind -> recommendation kind (drugs map to themselves and are never recommended)
CATALOGUE_KIND = {
    "service": "service",
    "device": "service",
    "package": "package",
    "content": "content",
    "drug": "drug",
}
WEIGHTS = {"view": 1.0, "consult": 4.0, "order": 4.0}
#: the tables read, with their time column (the data fingerprint)
SOURCES = {
    "patients": "registered_at",
    "events": "ts",
    "consultations": "started_at",
    "orders": "ts",
    "conditions": "onset_at",
}


def load_items(con: BaseBackend) -> Items:
    """The catalogue and the doctors as one item universe (sorted by key)."""
    cat = con.table("catalogue")
    cols = ["item_id", "kind", "name"]
    for c in ("department", "topic"):
        cols.append(c) if c in cat.columns else None
    c = cat.select(*cols).to_pyarrow().to_pylist()
    d = con.table("doctors").select("doctor_id", "name", "department").to_pyarrow().to_pylist()
    rows = []
    for r in c:
        kind = CATALOGUE_KIND.get(r["kind"] or "", r["kind"] or "other")
        rows.append(
            (
                f"{kind}:{r['item_id']}",
                r["item_id"],
                kind,
                r["kind"] or "",
                r["name"] or r["item_id"],
                r.get("department") or "",
                r.get("topic") or "",
            )
        )
    for r in d:
        rows.append(
            (
                f"doctor:{r['doctor_id']}",
                r["doctor_id"],
                "doctor",
                "doctor",
                r["name"] or r["doctor_id"],
                r["department"] or "",
                "",
            )
        )
    rows = sorted(set(rows))
    cols_ = list(zip(*rows, strict=True)) if rows else [[]] * 7
    return Items(*(np.array(col, dtype=object) for col in cols_))


def interactions(
    con: BaseBackend,
    as_of: dt.date,
    settings: Settings,
    since: dt.date | None = None,
    users: list[str] | None = None,
) -> pa.Table:
    """(user_id, item_key, weight, last_ts) summed per pair, from facts before `as_of` (and at
    or after 00:00 of `since`; of `users` only, when given)."""
    a = AsOf(con, as_of, settings)

    def facts(table: str, ts: str):
        t = a.facts(table, ts, since)
        return t if users is None else t.filter(t.user_id.isin(list(users)))

    ev = facts("events", "ts")
    views = ev.filter(ev.name.isin(["view_content", "view_doctor"]))
    views = views.select(
        "user_id",
        "ts",
        item_key=ibis.cases(
            (
                views.name == "view_content",
                "content:" + a.prop_field(views.properties, "content_id"),
            ),
            else_="doctor:" + a.prop_field(views.properties, "doctor_id"),
        ),
        weight=ibis.literal(WEIGHTS["view"]),
    )
    cs = facts("consultations", "started_at")
    cs = cs.filter(cs.doctor_id.notnull()).select(
        "user_id",
        ts=cs.started_at,
        item_key="doctor:" + cs.doctor_id,
        weight=ibis.literal(WEIGHTS["consult"]),
    )
    od = facts("orders", "ts")
    cat = con.table("catalogue")
    od = od.filter(od.status == "paid").join(
        cat.filter(cat.kind != "drug").select("item_id", "kind"), od.sku == cat.item_id
    )
    od = od.select(
        "user_id",
        "ts",
        item_key=ibis.cases(
            (od.kind == "package", "package:"),
            (od.kind == "content", "content:"),
            else_="service:",
        )
        + od.sku,
        weight=ibis.literal(WEIGHTS["order"]),
    )
    parts = []
    for p in (views, cs, od):
        ts = p.ts.cast("timestamp")
        parts.append(p.mutate(ts=ts).filter(p.item_key.notnull()))
    u = parts[0].union(parts[1]).union(parts[2])
    agg = u.group_by(["user_id", "item_key"]).aggregate(weight=u.weight.sum(), last_ts=u.ts.max())
    return agg.order_by(["user_id", "item_key"]).to_pyarrow()


@dataclass(frozen=True)
class Matrix:
    """A patients × items weight matrix in CSR form with its row and column labels."""

    users: np.ndarray
    weights: object  # scipy.sparse.csr_matrix (float32)


def to_matrix(table: pa.Table, items: Items, users: np.ndarray | None = None) -> Matrix:
    """CSR of weights over `items` (pairs with unknown items are dropped); rows are `users`
    (default: every user in the table, sorted)."""
    from scipy import sparse

    uid = np.asarray(table.column("user_id").to_pylist(), dtype=object)
    key = np.asarray(table.column("item_key").to_pylist(), dtype=object)
    w = table.column("weight").to_numpy().astype(np.float32)
    if users is None:
        users = np.unique(uid) if len(uid) else np.array([], dtype=object)
    col = np.searchsorted(items.key, key) if len(key) else np.array([], dtype=np.int64)
    col_ok = (col < len(items.key)) & (items.key[np.minimum(col, len(items) - 1)] == key)
    row = np.searchsorted(users, uid) if len(uid) else np.array([], dtype=np.int64)
    row_ok = (row < len(users)) & (users[np.minimum(row, max(len(users) - 1, 0))] == uid)
    keep = col_ok & row_ok
    m = sparse.csr_matrix(
        (w[keep], (row[keep], col[keep])), shape=(len(users), len(items)), dtype=np.float32
    )
    m.sum_duplicates()
    return Matrix(users, m)


def load_patients(
    con: BaseBackend, as_of: dt.date, settings: Settings, user_ids: list[str] | None = None
) -> Patients:
    """Patients registered before `as_of` (or those of `user_ids`, sorted): age in whole years
    at `as_of`, sex, recorded active ICD-10 conditions with onset before `as_of`."""
    a = AsOf(con, as_of, settings)
    p = a.facts("patients", "registered_at")
    if user_ids is not None:
        p = p.filter(p.user_id.isin(list(user_ids)))
    pt = p.select("user_id", "birth_date", "sex").order_by("user_id").to_pyarrow()
    ids = np.asarray(pt.column("user_id").to_pylist(), dtype=object)
    births = pt.column("birth_date").to_pylist()
    age = np.array(
        [
            -1
            if b is None or b > as_of
            else as_of.year - b.year - ((as_of.month, as_of.day) < (b.month, b.day))
            for b in births
        ],
        dtype=np.int64,
    )
    sex = np.asarray(
        [s if s in ("M", "F") else "U" for s in pt.column("sex").to_pylist()], dtype=object
    )
    c = a.facts("conditions", "onset_at")
    c = c.filter(c.system.lower() == "icd10")
    if "status" in c.columns:
        c = c.filter(c.status.isnull() | (c.status.lower() == "active"))
    if user_ids is not None:
        c = c.filter(c.user_id.isin(list(user_ids)))
    ct = c.select("user_id", "code").to_pyarrow()
    conds: dict[str, set[str]] = {}
    for u, code in zip(
        ct.column("user_id").to_pylist(), ct.column("code").to_pylist(), strict=True
    ):
        if code:
            conds.setdefault(u, set()).add(code.strip().upper())
    return Patients(ids, age, sex, [frozenset(conds.get(u, ())) for u in ids])


def popularity(table: pa.Table, items: Items) -> np.ndarray:
    """Distinct patients per item in `table` (an `interactions` table)."""
    key = np.asarray(table.column("item_key").to_pylist(), dtype=object)
    pos = np.searchsorted(items.key, key)
    ok = (pos < len(items)) & (items.key[np.minimum(pos, len(items) - 1)] == key)
    return np.bincount(pos[ok], minlength=len(items)).astype(np.float64)


def count_rows(table: pa.Table) -> int:
    return int(pc.count_distinct(table.column("user_id")).as_py()) if table.num_rows else 0
