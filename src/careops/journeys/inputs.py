"""What the send policy reads from the warehouse for a batch, set-wise (Ibis, any backend):
the latest consent rows, and each patient's profile (age, usual active hour, bound channels).

Profiles: `age` and `usual_active_hour` are tags as of a date (the stored snapshot when
current, else computed); a channel is bound when the `contacts` table holds the identifier it
needs (sms and phone: phone; wechat: wechat_openid; email: email — only presence is read,
never the sealed value) and app_push when the patient ever opened the app (an `app_open`
event before as-of). Without a `contacts` table the channel columns are left out and
`policy.decide` takes every channel as bound.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import ibis
import pyarrow as pa

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

CONSENT_SCHEMA = pa.schema(
    [
        ("user_id", pa.string()),
        ("channel", pa.string()),
        ("purpose", pa.string()),
        ("granted", pa.bool_()),
        ("ts", pa.timestamp("us", tz="UTC")),
    ]
)


def _only(t: ibis.Table, user_ids: pa.Array | None) -> ibis.Table:
    if user_ids is None:
        return t
    wanted = ibis.memtable(pa.table({"user_id": pa.array(user_ids).cast(pa.string())}))
    return t.semi_join(wanted, t.user_id == wanted.user_id)


def read_consents(con: BaseBackend, user_ids: pa.Array | None = None) -> pa.Table:
    """The latest consent row per patient, channel and purpose (a tie withdraws), for the
    patients of `user_ids` (all when None); `policy.decide` takes these rows as they are."""
    if "consents" not in con.list_tables():
        return CONSENT_SCHEMA.empty_table()
    t = _only(con.table("consents"), user_ids)
    ranked = t.mutate(
        _n=ibis.row_number().over(
            group_by=[t.user_id, t.channel, t.purpose], order_by=[ibis.desc(t.ts), t.granted]
        )
    )
    latest = ranked.filter(ranked._n == 0)
    out = latest.select(
        "user_id", "channel", "purpose", granted=latest.granted == 1, ts=latest.ts
    ).to_pyarrow()
    return _conform(out, CONSENT_SCHEMA)


def read_profiles(con: BaseBackend, as_of: dt.date, user_ids: pa.Array | None = None) -> pa.Table:
    """user_id, age, usual_active_hour and (with a contacts table) one bool per channel."""
    from careops.tags.snapshot import tags_at

    tags = _only(tags_at(con, as_of, ["age", "usual_active_hour"]), user_ids)
    if "contacts" in con.list_tables():
        raw = con.table("contacts")
        c = raw.group_by("user_id").aggregate(  # a patient may have several contact rows
            _phone=raw.phone.notnull().any(),
            _wechat=raw.wechat_openid.notnull().any(),
            _email=raw.email.notnull().any(),
        )
        ev = con.table("events")
        cutoff = ibis.timestamp(dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC))
        app = (
            ev.filter((ev.name == "app_open") & (ev.ts < cutoff)).select(_uid=ev.user_id).distinct()
        )
        first = tags.left_join(c, "user_id").select(
            "user_id", "age", "usual_active_hour", "_phone", "_wechat", "_email"
        )
        joined = first.left_join(app, first.user_id == app._uid)
        tags = joined.select(
            "user_id",
            "age",
            "usual_active_hour",
            sms=joined._phone.fill_null(False),
            wechat=joined._wechat.fill_null(False),
            app_push=joined._uid.notnull(),
            email=joined._email.fill_null(False),
            phone=joined._phone.fill_null(False),
        )
    return tags.order_by("user_id").to_pyarrow()


def _conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    cols = []
    for f in schema:
        col = table[f.name]
        if pa.types.is_timestamp(f.type) and col.type.tz is None:
            col = col.cast(pa.timestamp("us")).cast(pa.timestamp("us", tz="UTC"))
        cols.append(col.cast(f.type))
    return pa.table(cols, schema=schema)
