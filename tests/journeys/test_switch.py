"""The live switch: shipped templates off and the hospital's own journeys on until someone
switches them; each switch audited; the live worker runs what is on."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from careops.config import get_settings
from careops.errors import Forbidden, InvalidInput, NotFound
from careops.journeys import switch
from careops.journeys.catalogue import entries, templates_dir
from careops.journeys.service import list_journeys, show_journey
from careops.service import Actor, Ops
from careops.state.store import read_audit


@pytest.fixture
def hospital_ops(tmp_path):
    """Operations staff of a hospital with one journey of its own (`my_recall`)."""
    folder = tmp_path / "journeys"
    folder.mkdir()
    text = (templates_dir() / "silent_recall.yaml").read_text(encoding="utf-8")
    (folder / "my_recall.yaml").write_text(
        text.replace("key: silent_recall", "key: my_recall"), encoding="utf-8"
    )
    settings = get_settings().model_copy(deep=True)
    settings.journeys.dir = str(folder)
    actor = Actor(name="li", kind="user", roles=("operations",))
    ops = Ops.open(
        f"duckdb:///{tmp_path / 'w.duckdb'}",
        f"sqlite:///{tmp_path / 's.db'}",
        settings=settings,
        actor=actor,
    )
    yield ops
    ops.close()


def _live(ops: Ops) -> set[str]:
    pairs = [(e.loaded, e.origin) for e in entries(ops.settings) if e.loaded]
    return {j.journey.key for j in switch.live(ops, pairs)}


def test_templates_start_off_and_the_hospitals_own_start_on(hospital_ops):
    assert _live(hospital_ops) == {"my_recall"}
    listed = {j.key: j.enabled for j in list_journeys(hospital_ops)}
    assert listed["my_recall"] is True and listed["silent_recall"] is False
    assert show_journey(hospital_ops, "chronic_bp").enabled is False


def test_switching_on_and_off_is_kept_and_audited(hospital_ops):
    s = switch.set_enabled(hospital_ops, "chronic_bp", True, "高血压随访上线")
    assert s.enabled and s.changed_by == "user:li"
    switch.set_enabled(hospital_ops, "my_recall", False, "暂停: 春节")
    assert _live(hospital_ops) == {"chronic_bp"}
    switch.set_enabled(hospital_ops, "chronic_bp", False)
    assert _live(hospital_ops) == set()
    audit = [(r["action"], r["target"]) for r in read_audit(hospital_ops.state)]
    assert ("journey.enable", "journey:chronic_bp") in audit
    assert ("journey.disable", "journey:my_recall") in audit
    state = switch.state_of(hospital_ops, "my_recall", "hospital")
    assert not state.enabled and not state.default and state.note == "暂停: 春节"


def test_bad_switches_change_nothing(hospital_ops):
    with pytest.raises(NotFound):
        switch.set_enabled(hospital_ops, "nope", True)
    with pytest.raises(InvalidInput):
        switch.set_enabled(hospital_ops, "../../etc/passwd", True)
    with pytest.raises(InvalidInput, match="note"):
        switch.set_enabled(hospital_ops, "chronic_bp", True, "a\x00b")
    with pytest.raises(InvalidInput, match="note"):
        switch.set_enabled(hospital_ops, "chronic_bp", True, "x" * 501)
    analyst = Ops.open(
        hospital_ops.warehouse_url,
        hospital_ops.state_url,
        settings=hospital_ops.settings,
        actor=Actor(name="a", kind="user", roles=("analyst",)),
    )
    with pytest.raises(Forbidden):
        switch.set_enabled(analyst, "chronic_bp", True)
    analyst.close()
    with hospital_ops.state.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(switch.switches)).scalar() == 0
    assert _live(hospital_ops) == {"my_recall"}


def test_two_administrators_switching_at_once_leave_one_row(hospital_ops):
    barrier = threading.Barrier(4)
    errors: list[BaseException] = []

    def flip(on: bool) -> None:
        try:
            barrier.wait()
            switch.set_enabled(hospital_ops, "referral", on)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=flip, args=(i % 2 == 0,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with hospital_ops.state.connect() as conn:
        rows = conn.execute(sa.select(switch.switches)).all()
    assert [r.journey for r in rows] == ["referral"]


def test_the_live_worker_ticks_only_what_is_on(hospital_ops, monkeypatch):
    from careops.journeys import clock, engine

    seen: list[set[str]] = []
    monkeypatch.setattr(
        engine, "tick", lambda ops, live, now, **kw: seen.append({j.journey.key for j in live})
    )
    clock.live_tick(hospital_ops)
    switch.set_enabled(hospital_ops, "glucose_alert", True)
    clock.live_tick(hospital_ops)
    assert seen == [{"my_recall"}, {"my_recall", "glucose_alert"}]
