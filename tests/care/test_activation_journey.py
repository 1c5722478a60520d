"""The activation nudge as a journey: the `package_activation` tag (computed by the care
functions) brings patients behind on their 90-day activation into the shipped
`package_activation` journey; the engine sends through the policy (a withdrawn service consent
suppresses the message), a patient who catches up leaves by the exit rule, and the health
manager gets the follow-up task only for those still behind after a week."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.asof import AsOf
from careops.care import packages as P
from careops.config import get_settings
from careops.journeys import store
from careops.journeys.catalogue import find
from careops.journeys.clock import SimPeer, run
from careops.service import Ops
from careops.tasks.store import tasks
from careops.warehouse import warehouse
from tests.conftest import fill
from tests.journeys.engine_fixtures import build

UTC = dt.UTC


def t(day: str, hour: int = 4) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def _uses(user: str, enrolment: str, days: list[str]) -> list[dict]:
    return [
        {"usage_id": f"{enrolment}-{i}", "enrollment_id": enrolment, "user_id": user,
         "ts": t(d), "entitlement": "consultation"}
        for i, d in enumerate(days)
    ]  # fmt: skip


@pytest.fixture
def clinic(tmp_path):
    """behind: enrolled 2025-02-10, no use; quiet: the same, service consent withdrawn;
    catches_up: the same, 4 uses 5–8 March; on_pace: enrolled 2025-02-20 with 2 uses;
    activated: 5 uses; old: enrolled a year ago (window over); none: no package."""
    users = ["behind", "quiet", "catches_up", "on_pace", "activated", "old", "none"]
    url = build(tmp_path / "wh.duckdb", users, [])
    starts = {
        "behind": "2025-02-10", "quiet": "2025-02-10", "catches_up": "2025-02-10",
        "on_pace": "2025-02-20", "activated": "2025-02-01", "old": "2024-02-01",
    }  # fmt: skip
    uses = (
        _uses("catches_up", "e-catches_up", [f"2025-03-0{d}" for d in (5, 6, 7, 8)])
        + _uses("on_pace", "e-on_pace", ["2025-02-21", "2025-02-24"])
        + _uses("activated", "e-activated", ["2025-02-02"] * 5)
    )
    with warehouse(url) as con:
        fill(
            con,
            {
                "enrollments": pa.Table.from_pylist(
                    [
                        {"enrollment_id": f"e-{u}", "user_id": u, "package_id": "PKG-HTN90",
                         "start_at": t(s), "end_at": t(s) + dt.timedelta(days=90),
                         "price_cny": 599.0, "status": "active"}
                        for u, s in starts.items()
                    ]
                ),
                "entitlement_usage": pa.Table.from_pylist(uses),
                "consents": pa.Table.from_pylist(
                    [{"user_id": "quiet", "channel": "all", "purpose": "service", "granted": 0,
                      "ts": t("2025-02-15"), "source": "app"}]
                ),
            },
        )  # fmt: skip
    ops = Ops.open(warehouse=url, state=f"sqlite:///{tmp_path / 'state.db'}")
    yield ops, url
    ops.close()


def test_activation_state_per_patient_matches_hand_worked_pace(clinic):
    _, url = clinic
    with warehouse(url, read_only=True) as con:
        got = P.activation_state(AsOf(con, dt.date(2025, 3, 1), get_settings())).to_pyarrow()
    rows = {r["user_id"]: r for r in got.to_pylist()}
    # 2025-03-01: the 2025-02-10 enrolments are on day 19 → pace 5 × 20 / 90 = 1.11 uses due
    assert {u: r["state"] for u, r in rows.items()} == {
        "behind": "behind", "quiet": "behind", "catches_up": "behind",
        "on_pace": "on_pace",  # day 9: 5 × 10 / 90 = 0.56 due, 2 used
        "activated": "activated",
    }  # fmt: skip
    assert rows["behind"]["short"] == 5 and rows["on_pace"]["short"] == 3
    assert rows["behind"]["behind_pace"] == pytest.approx(5 * 20 / 90)
    assert rows["activated"]["short"] == 0


def test_the_tag_says_the_same_as_the_care_function(clinic):
    from careops.tags.compute import compute_tags

    _, url = clinic
    with warehouse(url, read_only=True) as con:
        got = compute_tags(con, dt.date(2025, 3, 1), ["package_activation", "package_uses_short"])
        got = got.to_pyarrow() if hasattr(got, "to_pyarrow") else got
    rows = {r["user_id"]: r for r in got.to_pylist()}
    assert rows["behind"]["package_activation"] == "behind"
    assert rows["on_pace"]["package_activation"] == "on_pace"
    assert rows["activated"]["package_uses_short"] == 0
    assert rows["old"]["package_activation"] is None and rows["none"]["package_uses_short"] is None


def test_the_nudge_journey_enters_those_behind_and_respects_consent_and_catch_up(clinic):
    ops, _ = clinic
    journey = find("package_activation", ops.settings)
    peer = SimPeer()
    report = run(ops, [journey], t("2025-03-01", 0), t("2025-03-09", 0),
                 step=dt.timedelta(hours=12), sender=peer)  # fmt: skip
    assert report.totals.entered == 3
    with ops.state.connect() as conn:
        outbox = conn.execute(sa.select(store.outbox)).all()
        enrol = {r.user_id: r for r in conn.execute(sa.select(store.enrolments))}
        decided = conn.execute(sa.select(store.decisions)).all()
        raised = conn.execute(sa.select(tasks)).all()
    assert set(enrol) == {"behind", "quiet", "catches_up"}
    sent = Counter((r.user_id, r.step) for r in outbox if r.status == "sent")
    assert sent == Counter(
        {("behind", "nudge"): 1, ("behind", "reminder"): 1, ("behind", "call"): 1,
         ("catches_up", "nudge"): 1, ("quiet", "call"): 1}
    )  # fmt: skip
    # the withdrawn service consent: both messages suppressed by the policy, the task stays
    suppressed = {(d.user_id, d.step, d.reason) for d in decided if d.action == "suppress"}
    assert {s for u, s, _ in suppressed if u == "quiet"} == {"nudge", "reminder"}
    assert all("consent" in r for u, _, r in suppressed if u == "quiet")
    # caught up before the second reminder: left by the exit rule
    assert enrol["catches_up"].status == "exited"
    # the message went out at 10:00 local or later, never in quiet hours
    tz = ops.settings.tz
    for r in outbox:
        if r.kind == "message" and r.status == "sent":
            assert 8 <= store.utc(r.sent_at).astimezone(tz).hour < 22
    # the follow-up task is the health manager's, under the outbox key
    assert {(r.user_id, r.assignee_role) for r in raised} == {
        ("behind", "health_manager"),
        ("quiet", "health_manager"),
    }
