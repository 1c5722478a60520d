"""A small hand-made hospital for engine tests: patients, a trigger event, later events."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pyarrow as pa

from careops.warehouse import connect, create_tables
from tests.conftest import fill

UTC = dt.UTC

STORY = """
key: t_story
name: {zh: 测试旅程, en: Test journey}
version: 1
trigger: {kind: event, event: signup_done}
steps:
  - {id: hello, type: message, purpose: service, channel: sms,
     template: {zh: 欢迎使用。, en: Welcome.}}
  - {id: wait_open, type: wait, event: app_open, timeout: 2d, on_timeout: nudge}
  - {id: thanks, type: message, purpose: service, channel: sms, next: exit,
     template: {zh: 谢谢您回来。, en: Thanks.}}
  - {id: nudge, type: task, assignee: health_manager, title: 回访患者, due: 1d}
exit:
  - {kind: converted, event: order_paid}
reentry: {policy: never}
"""

BULK = """
key: t_bulk
name: {zh: 批量测试, en: Bulk test}
version: 1
trigger: {kind: event, event: signup_done}
steps:
  - {id: hello, type: message, purpose: service, channel: sms,
     template: {zh: 欢迎使用。, en: Welcome.}}
  - {id: pause, type: wait, for: 2h}
  - {id: call, type: task, assignee: health_manager, title: 首次回访, due: 1d}
  - {id: ab, type: split, holdout: 0.1,
     arms: [{name: a, weight: 0.45, goto: tip}, {name: b, weight: 0.45, goto: bye}]}
  - {id: tip, type: message, purpose: service, channel: sms, next: exit,
     template: {zh: 健康小贴士。, en: Tip.}}
  - {id: bye, type: message, purpose: service, channel: sms, template: {zh: 再见。, en: Bye.}}
reentry: {policy: never}
"""


def at(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 3, day, hour, minute, tzinfo=UTC)


def ts(values: list[dt.datetime]) -> pa.Array:
    return pa.array(values, pa.timestamp("us", tz="UTC"))


def build(path: Path, users: list[str], events: list[tuple[str, str, dt.datetime]]) -> str:
    """A DuckDB warehouse at `path` with `users` (registered 2025-01-01, adults) and `events`
    (user, name, time); returns its URL."""
    url = f"duckdb:///{path}"
    con = connect(url)
    create_tables(con)
    n = len(users)
    fill(
        con,
        {
            "patients": pa.table(
                {
                    "user_id": users,
                    "registered_at": ts([dt.datetime(2025, 1, 1, tzinfo=UTC)] * n),
                    "birth_date": pa.array([dt.date(1980, 1, 1)] * n),
                    "sex": ["F"] * n,
                }
            ),
            "events": pa.table(
                {
                    "event_id": [f"e{i}" for i in range(len(events))],
                    "user_id": [e[0] for e in events],
                    "name": [e[1] for e in events],
                    "ts": ts([e[2] for e in events]),
                }
            ),
        },
    )
    # every patient has a (sealed) phone number: reachable by sms and phone
    con.insert(
        "contacts",
        pa.table(
            {
                "load_id": ["l0"] * n, "table_name": ["patients"] * n, "record_id": users,
                "user_id": users, "name": [None] * n, "phone": ["sealed"] * n,
                "email": [None] * n, "wechat_openid": [None] * n, "id_number": [None] * n,
                "key_id": ["k0"] * n,
            },
            schema=pa.schema([(c, pa.string()) for c in CONTACT_COLUMNS]),
        ),
    )  # fmt: skip
    con.disconnect()
    return url


CONTACT_COLUMNS = (
    "load_id", "table_name", "record_id", "user_id", "name", "phone", "email",
    "wechat_openid", "id_number", "key_id",
)  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
