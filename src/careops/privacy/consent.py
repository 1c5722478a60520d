"""Consent grants and withdrawals per channel and purpose (PIPL: separate consent, withdrawable).

Consents are facts in the warehouse's canonical `consents` table (DESIGN §2): rows are appended,
never updated, and the latest row per patient, channel and purpose wins. `all` as a channel or
purpose covers every channel or purpose: `may_contact` takes the latest row among those that
apply, so a later `all/marketing` withdrawal overrides an earlier `sms/marketing` grant and a later
`sms/marketing` grant overrides an earlier `all/marketing` withdrawal.

Recording the state a patient already has appends nothing (repeating a request changes nothing,
`changed` is False). Every recording and every reading is audited with the patient as subject.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal

import ibis
import pyarrow as pa
from pydantic import BaseModel, ConfigDict

from careops.errors import NotFound
from careops.schema import TABLES

if TYPE_CHECKING:
    from ibis.backends import BaseBackend

    from careops.service import Ops

Channel = Literal["sms", "wechat", "app_push", "email", "phone", "all"]
Purpose = Literal["marketing", "service", "medical", "all"]


class ConsentChange(BaseModel):
    """A grant or a withdrawal for one channel and purpose."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    channel: Channel
    purpose: Purpose
    granted: bool


class ConsentState(BaseModel):
    """The current (latest) decision for one channel and purpose."""

    channel: str
    purpose: str
    granted: bool
    ts: dt.datetime
    source: str | None = None


class ConsentResult(BaseModel):
    """What recording a change did: the state now, and whether a row was appended."""

    user_id: str
    state: ConsentState
    changed: bool


def record_consent(ops: Ops, user_id: str, change: ConsentChange) -> ConsentResult:
    """Append `change` for patient `user_id` (source `api:<actor>`), unless it is already the
    current state; audited as `consent.record`. `NotFound` for an unknown patient."""
    ops.require("consents.write")
    with ops.warehouse(existing=True) as con:
        _known_patient(con, user_id)
        if "consents" not in con.list_tables():  # a warehouse made before the table existed
            from careops.warehouse import create_tables

            create_tables(con)
        current = {(s.channel, s.purpose): s for s in current_consents(con, user_id)}
        now = current.get((change.channel, change.purpose))
        changed = now is None or now.granted != change.granted
        if changed:
            now = ConsentState(
                channel=change.channel,
                purpose=change.purpose,
                granted=change.granted,
                ts=dt.datetime.now(dt.UTC),
                source=f"api:{ops.actor.label}"[:128],
            )
            con.insert("consents", _row(user_id, now))
    ops.audit(
        "consent.record",
        f"patient:{user_id}",
        {**change.model_dump(), "changed": changed},
        subject=user_id,
    )
    return ConsentResult(user_id=user_id, state=now, changed=changed)


def read_consents(ops: Ops, user_id: str) -> list[ConsentState]:
    """The current decision per channel and purpose of patient `user_id` (audited as
    `consent.read`); `NotFound` for an unknown patient."""
    ops.require("consents.write")
    with ops.warehouse(read_only=True) as con:
        _known_patient(con, user_id)
        states = current_consents(con, user_id)
    ops.audit("consent.read", f"patient:{user_id}", {"fields": ["consents"]}, subject=user_id)
    return states


def current_consents(con: BaseBackend, user_id: str) -> list[ConsentState]:
    """The latest row per channel and purpose of one patient, by channel then purpose."""
    if "consents" not in con.list_tables():
        return []
    t = con.table("consents").filter(lambda t: t.user_id == user_id)
    latest = (
        t.mutate(
            n=ibis.row_number().over(
                group_by=[t.channel, t.purpose],
                order_by=[ibis.desc(t.ts), t.granted],  # a tie withdraws
            )
        )
        .filter(lambda t: t.n == 0)
        .select("channel", "purpose", "granted", "ts", "source")
        .order_by(["channel", "purpose"])
    )
    return [
        ConsentState(
            channel=r["channel"],
            purpose=r["purpose"],
            granted=bool(r["granted"]),
            ts=_utc(r["ts"]),
            source=r["source"],
        )
        for r in latest.to_pyarrow().to_pylist()
    ]


def may_contact(con: BaseBackend, user_id: str, channel: str, purpose: str) -> bool | None:
    """Whether the latest decision that applies to `channel` and `purpose` (theirs or `all`)
    grants them; None when the patient never decided (the caller's default applies)."""
    applicable = [
        s
        for s in current_consents(con, user_id)
        if s.channel in (channel, "all") and s.purpose in (purpose, "all")
    ]
    if not applicable:
        return None
    return max(applicable, key=lambda s: (s.ts, not s.granted)).granted  # a tie withdraws


def _known_patient(con: BaseBackend, user_id: str) -> None:
    patients = con.table("patients")
    if patients.filter(patients.user_id == user_id).count().execute() == 0:
        raise NotFound(f"没有这个患者 / no such patient: {user_id!r}")


def _row(user_id: str, state: ConsentState) -> pa.Table:
    schema = TABLES["consents"].arrow_schema()
    return pa.table(
        {
            "user_id": [user_id],
            "channel": [state.channel],
            "purpose": [state.purpose],
            "granted": [int(state.granted)],
            "ts": [state.ts],
            "source": [state.source],
        },
        schema=schema,
    )


def _utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
