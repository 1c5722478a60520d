"""A tiny hand-built hospital for tag tests: facts placed in hospital-local days before as-of.

`days_ago=1` means the day before as-of (local time, Asia/Shanghai), at `hour` local.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pyarrow as pa

TZ = ZoneInfo("Asia/Shanghai")


class Hospital:
    def __init__(self, as_of: date) -> None:
        self.as_of = as_of
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self._n = 0

    def at(self, days_ago: int, hour: int = 10, minute: int = 0) -> datetime:
        local = datetime.combine(self.as_of - timedelta(days=days_ago), time(hour, minute), TZ)
        return local.astimezone(UTC)

    def _id(self, prefix: str) -> str:
        self._n += 1
        return f"{prefix}{self._n}"

    def patient(
        self,
        uid: str,
        registered_days_ago: int = 400,
        *,
        birth: date | None = None,
        sex: str = "F",
        region: str | None = "华东",
        managed_by: str | None = None,
    ):
        self.rows["patients"].append(
            {
                "user_id": uid,
                "registered_at": self.at(registered_days_ago),
                "birth_date": birth,
                "sex": sex,
                "region": region,
                "managed_by": managed_by,
            }
        )
        return self

    def event(
        self,
        uid: str,
        days_ago: int,
        name: str = "app_open",
        hour: int = 10,
        *,
        minute: int = 0,
        **props,
    ):
        self.rows["events"].append(
            {
                "event_id": self._id("e"),
                "user_id": uid,
                "ts": self.at(days_ago, hour, minute),
                "name": name,
                "properties": json.dumps(props, ensure_ascii=False) if props else None,
            }
        )
        return self

    def consult(
        self,
        uid: str,
        days_ago: int,
        *,
        dx: str | None = None,
        department: str = "全科",
        mode: str = "text",
        hour: int = 10,
    ):
        self.rows["consultations"].append(
            {
                "consultation_id": self._id("c"),
                "user_id": uid,
                "started_at": self.at(days_ago, hour),
                "diagnosis_code": dx,
                "department": department,
                "mode": mode,
                "price_cny": 30.0,
            }
        )
        return self

    def order(
        self,
        uid: str,
        days_ago: int,
        amount: float,
        *,
        category: str = "drug",
        status: str = "paid",
    ):
        self.rows["orders"].append(
            {
                "order_id": self._id("o"),
                "user_id": uid,
                "ts": self.at(days_ago),
                "category": category,
                "amount_cny": amount,
                "status": status,
            }
        )
        return self

    def reading(self, uid: str, days_ago: int, code: str, value: float):
        self.rows["observations"].append(
            {
                "observation_id": self._id("b"),
                "user_id": uid,
                "ts": self.at(days_ago),
                "code": code,
                "value": value,
            }
        )
        return self

    def condition(
        self,
        uid: str,
        code: str,
        *,
        system: str = "icd10",
        category: str = "diagnosis",
        status: str = "active",
        onset_days_ago: int | None = None,
    ):
        self.rows["conditions"].append(
            {
                "condition_id": self._id("d"),
                "user_id": uid,
                "system": system,
                "code": code,
                "category": category,
                "status": status,
                "onset_at": None if onset_days_ago is None else self.at(onset_days_ago),
            }
        )
        return self

    def prescription(
        self,
        uid: str,
        days_ago: int,
        drug_name: str,
        days_supply: int = 30,
        drug_code: str | None = None,
    ):
        self.rows["prescriptions"].append(
            {
                "prescription_id": self._id("p"),
                "user_id": uid,
                "ts": self.at(days_ago),
                "drug_name": drug_name,
                "drug_code": drug_code,
                "days_supply": days_supply,
            }
        )
        return self

    def tables(self) -> dict[str, pa.Table]:
        from careops.schema import TABLES

        out = {}
        for name, rows in self.rows.items():
            schema = TABLES[name].arrow_schema()
            cols = {f.name: pa.array([r.get(f.name) for r in rows], f.type) for f in schema}
            out[name] = pa.table(cols, schema=schema)
        return out

    def load(self, con) -> None:
        from tests.conftest import fill

        fill(con, self.tables())
