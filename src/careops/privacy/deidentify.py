"""De-identified copies of the canonical tables for analysts (PIPL: de-identify for analysis).

What changes, table by table (decisions, also in docs/privacy.md):
- ids: `user_id` and every column naming a patient (`referrer_id`, `managed_by`, an event's
  `invitee_id`) become pseudonyms `P` + 20 hex of HMAC-SHA256 under `privacy.pseudonym_key`
  (a secret of its own, never the contacts key): the same patient gets the same pseudonym in
  every export and table, and nobody without the key can go back or test a guess. Record ids
  (event_id, consultation_id, …) are keyed-hashed the same way per column, so joins
  (prescriptions → consultations) still work. Staff and catalogue ids (doctor_id, item_id, sku)
  are kept.
- dates: `privacy.date_mode` "shift" moves every date and timestamp of a patient's rows by the
  same keyed offset of 1..`date_shift_days` days either way (never 0), so intervals within a
  patient are exact while calendar dates are not; "month" truncates them to the first day of
  their month in the hospital's timezone.
- patients: `birth_date` becomes `age_band` (settings.tags.age_bands, age on the export date);
  `city` is dropped, `region` kept (filled from the city when missing).
- free text is dropped: a consultation's complaint, a survey's comment, a ticket's reason, a
  doctor's name. An event's JSON properties keep only known categorical keys (topic, content,
  doctor, …); search queries and any unknown key are dropped.
- `contacts`, `ingest_extras` and every other non-canonical table are never exported.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import itertools
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from careops.config import Settings
from careops.errors import ConfigError, Forbidden, NotFound
from careops.schema import TABLES

DateMode = Literal["shift", "month"]
#: columns naming a patient (pseudonymised like user_id)
USER_COLUMNS = {"user_id", "referrer_id", "managed_by"}
#: ids of staff, products and codes: not personal, kept for joins with the catalogue
KEPT_IDS = {"doctor_id", "item_id", "package_id", "sku", "drug_code", "diagnosis_code", "code"}
#: record references not named after the id they hold: hashed in that id's namespace
REFERENCES = {"renewal_of": "enrollment_id"}
#: text columns of patients' tables kept as they are: categories and codes, not free text.
#: Any other text column without a fixed set of values is dropped (default deny), so a column
#: added to the schema later is not exported until someone decides it is safe.
KEEP_TEXT = {
    ("patients", "region"),
    ("patients", "source_channel"),
    ("events", "name"),
    ("consultations", "department"),
    ("consultations", "diagnosis_code"),
    ("prescriptions", "drug_name"),
    ("observations", "unit"),
    ("observations", "source"),
    ("conditions", "display"),
    ("encounters", "class"),
    ("encounters", "department"),
    ("entitlement_usage", "entitlement"),
}
#: free text and staff names: dropped (listed so the decision is visible and tested)
DROPPED: dict[str, set[str]] = {
    "consultations": {"complaint"},
    "surveys": {"comment"},
    "tickets": {"reason"},
    "consents": {"source"},  # who recorded it: staff and app names
    "doctors": {"name"},
    "patients": {"birth_date", "city"},
}
#: event properties kept (categorical values); patient ids among them are pseudonymised
PROPERTY_KEYS = {
    "topic",
    "content_id",
    "doctor_id",
    "item_id",
    "sku",
    "category",
    "channel",
    "department",
    "screen",
    "source",
    "campaign",
    "journey",
    "step",
    "variant",
    "experiment",
}
PROPERTY_USER_KEYS = {"invitee_id", "inviter_id", "user_id", "referrer_id", "patient_id"}
MAX_PROPERTY_TEXT = 64
NEVER = ("contacts", "ingest_extras", "ingest_flags", "quarantine", "quarantine_resolved", "_loads")
# the seven geographical regions of the mainland, for the main cities (region missing)
CITY_REGION: dict[str, str] = {
    **dict.fromkeys(
        (
            "上海",
            "杭州",
            "南京",
            "苏州",
            "合肥",
            "宁波",
            "无锡",
            "济南",
            "青岛",
            "福州",
            "厦门",
            "南昌",
        ),
        "华东",
    ),
    **dict.fromkeys(("北京", "天津", "石家庄", "太原", "呼和浩特", "保定", "唐山"), "华北"),
    **dict.fromkeys(("广州", "深圳", "南宁", "海口", "东莞", "佛山", "珠海"), "华南"),
    **dict.fromkeys(("武汉", "长沙", "郑州", "洛阳", "宜昌"), "华中"),
    **dict.fromkeys(("成都", "重庆", "昆明", "贵阳", "拉萨"), "西南"),
    **dict.fromkeys(("西安", "兰州", "西宁", "银川", "乌鲁木齐"), "西北"),
    **dict.fromkeys(("沈阳", "哈尔滨", "长春", "大连"), "东北"),
}
_WEAK = {"changeme", "secret", "password", "careops"}


def exportable() -> tuple[str, ...]:
    """The tables a de-identified export may hold: the canonical ones."""
    return tuple(TABLES)


def check_table(name: str) -> str:
    """`name` if it may be exported; `Forbidden` for identifier and bookkeeping tables,
    `NotFound` for any other name."""
    if name in NEVER:
        raise Forbidden(f"table: {name} 不可导出 / is never exported (direct identifiers or raw)")
    if name not in TABLES:
        raise NotFound(f"table: 无此表 / no table {name!r}; known: {', '.join(TABLES)}")
    return name


@dataclass(frozen=True)
class Deidentifier:
    """The keyed transformations of one export (see the module docstring)."""

    key: bytes
    mode: DateMode
    shift_days: int
    age_bands: tuple[int, ...]
    as_of: dt.date
    timezone: str = "Asia/Shanghai"

    def __repr__(self) -> str:
        return f"Deidentifier(mode={self.mode!r}, shift_days={self.shift_days}, as_of={self.as_of})"

    @classmethod
    def from_settings(cls, settings: Settings, as_of: dt.date | None = None) -> Deidentifier:
        """The settings' transformation; refuses (ConfigError) without a usable pseudonym key."""
        p = settings.privacy
        secret = p.pseudonym_key.get_secret_value().strip() if p.pseudonym_key else ""
        if not secret:
            raise ConfigError(
                "privacy.pseudonym_key: 未配置, 拒绝导出 / not set, refusing to export; set "
                "CAREOPS_PRIVACY__PSEUDONYM_KEY to 32+ random characters (not the contacts key)"
            )
        if len(secret) < 32 or len(set(secret)) < 8 or secret.lower() in _WEAK:
            raise ConfigError(
                "privacy.pseudonym_key: 太短或太弱 / too short or weak: use 32+ random characters"
            )
        if p.contacts_key and secret == p.contacts_key.get_secret_value().strip():
            raise ConfigError(
                "privacy.pseudonym_key: 不得与 contacts_key 相同 / must not be the contacts key"
            )
        return cls(
            key=secret.encode(),
            mode=p.date_mode,
            shift_days=p.date_shift_days,
            age_bands=tuple(settings.tags.age_bands),
            as_of=as_of or dt.datetime.now(settings.tz).date(),
            timezone=settings.timezone,
        )

    # ---- values ------------------------------------------------------------------------------

    def _mac(self, namespace: str, value: str) -> bytes:
        return hmac.new(self.key, f"{namespace}\x00{value}".encode(), hashlib.sha256).digest()

    def pseudonym(self, value: str, namespace: str = "user") -> str:
        """The keyed-hash pseudonym of `value` (a patient's id by default)."""
        prefix = "P" if namespace == "user" else namespace[:1].upper()
        return prefix + self._mac(namespace, value).hex()[:20]

    def shift(self, user_id: str) -> int:
        """The patient's date offset in days: 1..shift_days either way, never 0."""
        n = self.shift_days
        k = int.from_bytes(self._mac("date-shift", user_id)[:8], "big") % (2 * n)
        return k - n if k < n else k - n + 1

    def age_band(self, birth: dt.date | None) -> str | None:
        """The band (`15-24`, `60+`) of the age on `as_of`."""
        if birth is None:
            return None
        a = self.as_of
        age = a.year - birth.year - ((a.month, a.day) < (birth.month, birth.day))
        bands = self.age_bands
        for lo, hi in itertools.pairwise(bands):  # codes as the age_band tag's
            if lo <= age < hi:
                return f"{lo}-{hi - 1}"
        return f"{bands[-1]}+" if age >= bands[-1] else None

    # ---- columns and tables ------------------------------------------------------------------

    def _ids(self, column: pa.ChunkedArray | pa.Array, namespace: str) -> pa.Array:
        arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
        enc = pc.dictionary_encode(arr.cast(pa.string()))
        names = [
            None if v is None else self.pseudonym(v, namespace) for v in enc.dictionary.to_pylist()
        ]
        return pa.array(names, pa.string()).take(enc.indices)

    def _offsets(self, users: pa.ChunkedArray | pa.Array) -> np.ndarray:
        arr = users.combine_chunks() if isinstance(users, pa.ChunkedArray) else users
        enc = pc.dictionary_encode(arr.cast(pa.string()))
        days = np.array(
            [0 if v is None else self.shift(v) for v in enc.dictionary.to_pylist()], np.int64
        )
        idx = enc.indices.fill_null(0).to_numpy(zero_copy_only=False)
        return days[idx] if len(days) else np.zeros(len(arr), np.int64)

    def _dates(self, column: pa.ChunkedArray, offsets: np.ndarray | None) -> pa.Array:
        arr = column.combine_chunks()
        if self.mode == "month":
            if pa.types.is_timestamp(arr.type):
                arr = arr.cast(pa.timestamp("us", tz=self.timezone))
            return pc.strptime(pc.strftime(arr, "%Y-%m-01"), "%Y-%m-%d", "s").cast(pa.date32())
        if offsets is None:
            return arr
        valid = arr.is_valid()
        if pa.types.is_timestamp(arr.type):
            us = arr.cast(pa.int64()).fill_null(0).to_numpy(zero_copy_only=False)
            out = pa.array(us + offsets * 86_400_000_000, pa.int64()).cast(arr.type)
        else:
            days = arr.cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
            out = pa.array(days + offsets, pa.int64()).cast(pa.int32()).cast(pa.date32())
        return pc.if_else(valid, out, pa.nulls(len(arr), out.type))

    def properties(self, text: str | None) -> str | None:
        """An event's JSON properties with only categorical keys, patient ids pseudonymised."""
        if not text:
            return None
        try:
            data = json.loads(text)
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        out: dict[str, Any] = {}
        for k, v in data.items():
            if k in PROPERTY_USER_KEYS and isinstance(v, str | int):
                out[k] = self.pseudonym(str(v))
            elif k in PROPERTY_KEYS:
                if isinstance(v, bool | int | float):
                    out[k] = v
                elif isinstance(v, str) and len(v) <= MAX_PROPERTY_TEXT:
                    from careops.privacy.identifiers import mask_text

                    out[k] = mask_text(v)
        return json.dumps(out, ensure_ascii=False, sort_keys=True) if out else None

    def table(self, name: str, rows: pa.Table) -> pa.Table:
        """`rows` of canonical table `name`, de-identified."""
        spec = TABLES[check_table(name)]
        offsets = (
            self._offsets(rows["user_id"])
            if self.mode == "shift" and spec.user_column and "user_id" in rows.column_names
            else None
        )
        out: dict[str, pa.Array] = {}
        for col in spec.columns:
            c = col.name
            if c not in rows.column_names or c in DROPPED.get(name, set()):
                continue
            values = rows[c]
            if c in USER_COLUMNS:
                out[c] = self._ids(values, "user")
            elif c in REFERENCES:
                out[c] = self._ids(values, REFERENCES[c])
            elif c.endswith("_id") and c not in KEPT_IDS and spec.user_column:
                out[c] = self._ids(values, c)
            elif col.type in ("timestamp", "date") and spec.user_column:
                out[c] = self._dates(values, offsets)
            elif name == "events" and c == "properties":
                out[c] = pa.array([self.properties(v) for v in values.to_pylist()], pa.string())
            elif (
                spec.user_column
                and col.type in ("string", "json")
                and col.enum is None
                and c not in KEPT_IDS
                and (name, c) not in KEEP_TEXT
            ):
                continue  # free text nobody declared safe
            else:
                out[c] = values.combine_chunks()
        if name == "patients":
            out = self._patients(rows, out)
        return pa.table(out)

    def _patients(self, rows: pa.Table, out: dict[str, pa.Array]) -> dict[str, pa.Array]:
        if "birth_date" in rows.column_names:
            out["age_band"] = pa.array(
                [self.age_band(b) for b in rows["birth_date"].to_pylist()], pa.string()
            )
        if "region" in rows.column_names and "city" in rows.column_names:
            region = rows["region"].to_pylist()
            city = rows["city"].to_pylist()
            out["region"] = pa.array(
                [
                    r if r else CITY_REGION.get((c or "").removesuffix("市"))
                    for r, c in zip(region, city, strict=True)
                ],
                pa.string(),
            )
        return out

    def batches(self, name: str, batches: Iterable[pa.RecordBatch]) -> Iterator[pa.Table]:
        """De-identify a table read batch by batch."""
        for b in batches:
            if b.num_rows:
                yield self.table(name, pa.Table.from_batches([b]))
