"""What recommendations learn from, read from the warehouse as of a date (facts before it only).

Interactions (implicit feedback), one weight per (patient, item):
- `events` `view_content` {content_id} and `view_doctor` {doctor_id}: weight 1 each;
- `consultations` with a doctor: weight 4 (the doctor);
- paid `orders` of catalogue items (services, packages, devices, check-ups): weight 4.
Drugs are read nowhere here: they are never recommended. Items are the catalogue (services,
packages, content, devices — a device is recommended as a service) and the doctors.

The engine does the work: one GROUP BY over the three sources (projected columns only, the
as-of cut-off pushed into the scan) joined to the items' integer codes, so what leaves the
engine is (user_id, col, weight[, recent]) — one row per pair — and the sparse matrix is built
from those Arrow buffers (`pc.index_in` for the patients' rows), with no Python loop per row.
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


def _item_codes(items: Items) -> ibis.Table:
    """The items as a small engine table: (item_key, col) with col the item's index."""
    return ibis.memtable(
        pa.table(
            {
                "item_key": pa.array(items.key.tolist(), pa.string()),
                "col": pa.array(np.arange(len(items), dtype=np.int32)),
            }
        )
    )


def interactions(
    con: BaseBackend,
    as_of: dt.date,
    settings: Settings,
    items: Items,
    *,
    since: dt.date | None = None,
    users: list[str] | None = None,
    recent_since: dt.date | None = None,
) -> pa.Table:
    """(user_id, col, weight[, recent]) summed per (patient, item) by the engine in one GROUP BY,
    from facts before `as_of` (and at or after 00:00 of `since`; of `users` only, when given).
    `col` is the item's index in `items` (pairs of unknown items are dropped in the engine);
    `recent` (with `recent_since`) says the pair has a fact at or after 00:00 of that day, so
    recent popularity comes from the same scan. Only the projected columns leave the engine."""
    a = AsOf(con, as_of, settings)

    def facts(table: str, ts: str):
        t = a.facts(table, ts, since)
        return t if users is None else t.filter(t.user_id.isin(list(users)))

    def recent(t, ts: str):
        if recent_since is None:
            return ibis.literal(False)
        return t[ts] >= a.instant(t[ts], a.utc(recent_since))

    ev = facts("events", "ts")
    views = ev.filter(ev.name.isin(["view_content", "view_doctor"]))
    views = views.select(
        "user_id",
        item_key=ibis.cases(
            (
                views.name == "view_content",
                "content:" + a.prop_field(views.properties, "content_id"),
            ),
            else_="doctor:" + a.prop_field(views.properties, "doctor_id"),
        ),
        weight=ibis.literal(WEIGHTS["view"]),
        recent=recent(views, "ts"),
    )
    cs = facts("consultations", "started_at")
    cs = cs.filter(cs.doctor_id.notnull()).select(
        "user_id",
        item_key="doctor:" + cs.doctor_id,
        weight=ibis.literal(WEIGHTS["consult"]),
        recent=recent(cs, "started_at"),
    )
    od = facts("orders", "ts")
    cat = con.table("catalogue")
    od = od.filter(od.status == "paid").join(
        cat.filter(cat.kind != "drug").select("item_id", "kind"), od.sku == cat.item_id
    )
    od = od.select(
        "user_id",
        item_key=ibis.cases(
            (od.kind == "package", "package:"),
            (od.kind == "content", "content:"),
            else_="service:",
        )
        + od.sku,
        weight=ibis.literal(WEIGHTS["order"]),
        recent=recent(od, "ts"),
    )
    u = views.union(cs).union(od)
    u = u.join(_item_codes(items), "item_key")
    aggs = {"weight": u.weight.sum().cast("float32")}
    if recent_since is not None:
        aggs["recent"] = u.recent.any()
    return u.group_by(["user_id", "col"]).aggregate(**aggs).to_pyarrow()


@dataclass(frozen=True)
class Matrix:
    """A patients × items weight matrix in CSR form with its row and column labels."""

    users: np.ndarray
    weights: object  # scipy.sparse.csr_matrix (float32)


def to_matrix(
    table: pa.Table, items: Items, users: np.ndarray | None = None, value: str = "weight"
) -> Matrix:
    """CSR over `items` from an `interactions` table (built from its Arrow buffers): rows are
    `users` (default: every user in the table, sorted; pairs of other users are dropped);
    `value` "weight", or "recent" for 1 where the pair is recent."""
    from scipy import sparse

    uid = table.column("user_id")
    if users is None:
        users = np.unique(np.asarray(uid.to_pylist(), dtype=object))
    users = np.asarray(users, dtype=object)
    if len(uid) == 0 or len(users) == 0:
        empty = sparse.csr_matrix((len(users), len(items)), dtype=np.float32)
        return Matrix(users, empty)
    row = pc.index_in(uid, value_set=pa.array(users.tolist(), pa.string()))
    keep = pc.is_valid(row)
    v = table.column(value)
    if value == "recent":
        keep = pc.and_(keep, pc.fill_null(v, False))
    row = pc.filter(row, keep).to_numpy().astype(np.int32)
    col = pc.filter(table.column("col"), keep).to_numpy().astype(np.int32)
    w = pc.filter(v, keep).cast(pa.float32()).to_numpy(zero_copy_only=False)
    m = sparse.csr_matrix((w, (row, col)), shape=(len(users), len(items)), dtype=np.float32)
    m.sum_duplicates()
    return Matrix(users, m)


def _age(births: pa.ChunkedArray, as_of: dt.date) -> np.ndarray:
    """Whole years at `as_of` (−1 unknown or born after it), vectorised."""
    if len(births) == 0:
        return np.zeros(0, dtype=np.int64)
    y = pc.year(births).to_numpy(zero_copy_only=False)
    m = pc.month(births).to_numpy(zero_copy_only=False)
    d = pc.day(births).to_numpy(zero_copy_only=False)
    known = pc.is_valid(births).to_numpy(zero_copy_only=False)
    y, m, d = (np.nan_to_num(x.astype(np.float64), nan=0).astype(np.int64) for x in (y, m, d))
    before_birthday = (as_of.month < m) | ((as_of.month == m) & (as_of.day < d))
    age = as_of.year - y - before_birthday.astype(np.int64)
    return np.where(known & (age >= 0), age, -1)


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
    age = _age(pt.column("birth_date"), as_of)
    sex = np.asarray(pt.column("sex").fill_null("U").to_pylist(), dtype=object)
    sex[(sex != "M") & (sex != "F")] = "U"
    c = a.facts("conditions", "onset_at")
    c = c.filter(c.system.lower() == "icd10")
    if "status" in c.columns:
        c = c.filter(c.status.isnull() | (c.status.lower() == "active"))
    if user_ids is not None:
        c = c.filter(c.user_id.isin(list(user_ids)))
    ct = c.select("user_id", code=c.code.strip().upper()).to_pyarrow()
    conds: list[set[str]] = [set() for _ in range(len(ids))]
    if ct.num_rows and len(ids):
        row = pc.index_in(ct.column("user_id"), value_set=pa.array(ids.tolist(), pa.string()))
        for r, code in zip(row.to_pylist(), ct.column("code").to_pylist(), strict=True):
            if r is not None and code:
                conds[r].add(code)
    empty: frozenset[str] = frozenset()
    return Patients(ids, age, sex, [frozenset(x) if x else empty for x in conds])


def popularity(table: pa.Table, items: Items) -> np.ndarray:
    """Distinct patients per item in `table` (an `interactions` table)."""
    col = table.column("col").to_numpy().astype(np.int64)
    return np.bincount(col, minlength=len(items)).astype(np.float64)
