"""The personal health record on literal hand-worked tables: refills from days_supply, plan
targets and adherence, the dynamic follow-up interval, the family account; clinical access
scoped and audited; malformed plan files refused."""

from __future__ import annotations

import datetime as dt
import json

import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.care.health import health_record, load_plans
from careops.care.health_service import record
from careops.config import get_settings
from careops.errors import ConfigError, Forbidden, NotFound
from careops.identity import accounts
from careops.service import Actor, Ops
from tests.conftest import fill

AS_OF = dt.date(2026, 3, 1)
PASSWORD = "correct horse battery staple"


def ts(day: str, hour: int = 4) -> dt.datetime:  # 04:00 UTC = 12:00 in Shanghai
    return dt.datetime.fromisoformat(day).replace(hour=hour, tzinfo=dt.UTC)


def bp_rows(uid: str, day: str, s: float, d: float, n: int) -> list[tuple]:
    return [
        (f"{uid}s{n}", uid, ts(day), "8480-6", s),
        (f"{uid}d{n}", uid, ts(day), "8462-4", d),
    ]


@pytest.fixture
def ops():
    from careops.warehouse import create_tables, warehouse

    context = Ops.open()
    obs = [
        *bp_rows("p1", "2026-02-10", 130, 80, 1),
        *bp_rows("p1", "2026-02-20", 150, 95, 2),
        *bp_rows("p2", "2026-02-25", 165, 90, 1),
        ("p3g", "p3", ts("2026-02-26"), "2339-0", 6.0),
    ]
    with warehouse(context.warehouse_url) as con:
        create_tables(con)
        fill(
            con,
            {
                "patients": pa.table(
                    {
                        "user_id": ["p1", "p2", "p3", "f1"],
                        "birth_date": pa.array(
                            [dt.date(1950, 3, 2), dt.date(1960, 1, 1), None, None], pa.date32()
                        ),
                        "managed_by": ["f1", None, None, None],
                    }
                ),
                "conditions": pa.table(
                    {
                        "condition_id": ["c1", "c2", "c3"],
                        "user_id": ["p1", "p2", "p3"],
                        "system": ["icd10"] * 3,
                        "code": ["I10", "I10", "E11.9"],
                        "display": ["原发性高血压", "原发性高血压", "2型糖尿病"],
                        "status": ["active"] * 3,
                    }
                ),
                "consultations": pa.table(
                    {
                        "consultation_id": ["k1", "k2"],
                        "user_id": ["p1", "p3"],
                        "department": ["心血管内科", "内分泌科"],
                        "started_at": [ts("2026-02-15"), ts("2026-02-01")],
                    }
                ),
                "prescriptions": pa.table(
                    {
                        "prescription_id": ["r1", "r2", "r3"],
                        "user_id": ["p1"] * 3,
                        "ts": [ts("2026-02-10"), ts("2026-02-01"), ts("2026-01-01")],
                        "drug_code": ["A", "B", "C"],
                        "drug_name": ["氨氯地平", "缬沙坦", "阿司匹林"],
                        "days_supply": [30, 30, 30],
                    }
                ),
                "observations": pa.table(
                    {
                        "observation_id": [r[0] for r in obs],
                        "user_id": [r[1] for r in obs],
                        "ts": [r[2] for r in obs],
                        "code": [r[3] for r in obs],
                        "value": [float(r[4]) for r in obs],
                    }
                ),
            },
        )
    yield context
    context.close()


def rec(ops, uid):
    with ops.warehouse(read_only=True) as con:
        return health_record(con, uid, AS_OF, get_settings(), load_plans())


def test_refills_from_days_supply(ops):
    meds = {m.drug_code: m for m in rec(ops, "p1").medications}
    # A: 02-10 + 30 days → 03-12, 11 days left; B: 02-01 → 03-03, 2 left (≤ 7: refill due);
    # C: 01-01 → 01-31, lapsed
    assert (meds["A"].runs_out, meds["A"].days_left, meds["A"].status) == (
        dt.date(2026, 3, 12),
        11,
        "ok",
    )
    assert (meds["B"].days_left, meds["B"].status) == (2, "refill_due")
    assert (meds["C"].days_left, meds["C"].status) == (-29, "lapsed")


def test_plan_targets_adherence_and_follow_up(ops):
    r = rec(ops, "p1")
    (plan,) = r.plans
    t = {x.id: x for x in plan.targets}
    assert r.latest["bp"]["systolic"] == 150 and plan.controlled is False and not plan.severe
    assert t["bp_control"].met is False
    # two panels in the last 28 days = 0.5 a week, target 2
    assert (t["bp_readings"].value, t["bp_readings"].met) == (0.5, False)
    # PDC over 90 days: covered 01-01..01-30 (30) + 02-01..02-28 (28) = 58 of 59 days from 01-01
    assert t["medication"].value == pytest.approx(round(58 / 59, 3)) and t["medication"].met
    assert t["salt"].met is None and plan.adherence == pytest.approx(1 / 3)
    # not controlled → 28 days after the last consultation (02-15)
    assert r.follow_up["interval_days"] == 28 and r.follow_up["due"] == dt.date(2026, 3, 15)
    assert r.profile["age"] == 75  # born 1950-03-02: not yet 76 on 03-01
    # severe (165 ≥ 160) → 2 weeks; controlled diabetes (6.0 < 7.0) → 3 months
    assert rec(ops, "p2").follow_up["interval_days"] == 14
    p3 = rec(ops, "p3")
    assert p3.plans[0].condition == "E11" and p3.follow_up["interval_days"] == 90
    assert p3.follow_up["due"] == dt.date(2026, 5, 2)


def test_family_account_and_who_is_told_what(ops):
    r = rec(ops, "p1")
    assert r.family == {"managed_by": "f1", "manages": []}
    assert rec(ops, "f1").family == {"managed_by": None, "manages": ["p1"]}
    to = {n["to"]: n["what"] for n in r.notify}
    assert "abnormal_reading_alerts" in to["medical/health_manager"]
    assert to["family:f1"] == ["refill_reminders", "follow_up_reminders"]
    with pytest.raises(NotFound):
        rec(ops, "nobody")


def staff(ops, name, role, departments=()):
    accounts.add_user(ops, name, role, PASSWORD, departments)
    actor = Actor(name=name, kind="user", roles=(role,), departments=tuple(departments))
    return Ops.open(ops.warehouse_url, ops.state_url, actor=actor, settings=ops.settings)


def test_clinical_access_is_scoped_and_audited(ops):
    from careops.state.models import audit_log

    with pytest.raises(Forbidden):
        record(ops, "p1", AS_OF)  # the machine's admin treats no one
    doctor = staff(ops, "dr_wang", "medical", ["心血管内科"])
    assert record(doctor, "p1", AS_OF).user_id == "p1"
    with pytest.raises(Forbidden):
        record(doctor, "p3", AS_OF)  # seen in another department only
    with pytest.raises(Forbidden):
        record(staff(ops, "hm_li", "health_manager"), "p1", AS_OF)  # not in her care
    with ops.state.connect() as conn:
        rows = conn.execute(
            sa.select(audit_log.c.action, audit_log.c.subject).where(
                audit_log.c.action == "health.record"
            )
        ).all()
    assert [tuple(r) for r in rows] == [("health.record", "p1")]


def test_cli_signs_in_as_staff(ops, run_cli, monkeypatch):
    staff(ops, "dr_zhao", "medical", ["心血管内科"])
    monkeypatch.setenv("CAREOPS_PASSWORD", PASSWORD)
    code, out, err = run_cli(
        "health", "record", "p1", "--as-of", AS_OF, "--staff", "dr_zhao", "--json"
    )
    assert code == 0, err
    assert json.loads(out)["follow_up"]["interval_days"] == 28
    code, out, err = run_cli("health", "record", "p1", "--as-of", AS_OF)
    assert code != 0 and "patients.clinical" in err
    monkeypatch.setenv("CAREOPS_PASSWORD", "wrong")
    code, _, _ = run_cli("health", "record", "p1", "--staff", "dr_zhao")
    assert code != 0


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        (("controlled_days: 90", "controlled_days: 0"), "controlled_days"),
        (("measure: bp", "measure: weight"), "measure"),
        (("kind: control", "kind: vibes"), "kind"),
        (("refill_lead_days: 7", "refill_lead_days: seven"), "refill_lead_days"),
    ],
)
def test_malformed_plans_are_refused(tmp_path, edit, needle):
    from importlib import resources

    text = resources.files("careops.care").joinpath("data/health_plans.yaml").read_text("utf-8")
    assert edit[0] in text
    f = tmp_path / "plans.yaml"
    f.write_text(text.replace(edit[0], edit[1], 1), encoding="utf-8")
    with pytest.raises(ConfigError, match=needle):
        load_plans(f)


@pytest.mark.parametrize("uid", ["", "a\x00b", "x" * 200, " ", "\u202eevil", "p1' OR '1'='1"])
def test_hostile_patient_ids_are_refused_cleanly(ops, uid):
    from careops.errors import InvalidInput

    with pytest.raises((InvalidInput, NotFound), match=r"user_id|no patient"):
        rec(ops, uid)


def test_refill_reminders_for_everyone_agree_with_the_record_and_raise_once(ops, run_cli):
    from careops.care.health import refills_due
    from careops.care.health_service import raise_refill_reminders
    from careops.tasks.store import tasks

    s = get_settings()
    with ops.warehouse(read_only=True) as con:
        now_due = refills_due(con, AS_OF, s, 7)
        # on 03-05 A (runs out 03-12) has 7 days left, at the lead time: due; on 03-04 it has
        # 8, and B ran out on 03-03: nothing
        later = refills_due(con, AS_OF + dt.timedelta(days=4), s, 7)
        between = refills_due(con, AS_OF + dt.timedelta(days=3), s, 7)
    assert [(r.user_id, r.drug_code, r.days_left) for r in now_due] == [("p1", "B", 2)]
    assert [(r.drug_code, r.days_left) for r in later] == [("A", 7)] and between == []
    in_record = [m.drug_code for m in rec(ops, "p1").medications if m.status == "refill_due"]
    assert in_record == [r.drug_code for r in now_due]
    first = raise_refill_reminders(ops, AS_OF)
    assert raise_refill_reminders(ops, AS_OF) == first and len(first) == 1
    with ops.state.connect() as conn:
        (t,) = conn.execute(sa.select(tasks)).all()
    assert t.key == "refill:p1:B:2026-03-03" and t.purpose == "medical"
    code, out, err = run_cli("health", "refills", "--as-of", AS_OF)
    assert code == 0 and "1" in out, err
