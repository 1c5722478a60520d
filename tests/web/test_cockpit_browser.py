"""The cockpit in a real headless Chromium, per page and role: log in, the numbers a manager
reads equal the services' (the CLI's) for the same as-of date, drill down, forbidden pages
refused, no error in the browser console, no critical accessibility violation (axe-core),
screenshots kept under test-artifacts/cockpit/."""

from __future__ import annotations

import re

import pytest

from careops.metrics.format import fmt
from tests.web.world import AS_OF, EARLIER

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("cockpit")]

DAY = AS_OF.isoformat()


def _digits(text: str) -> int:
    return int(re.sub(r"[^\d]", "", text))


def test_login_refuses_a_wrong_password_then_lets_operations_in(browser):
    from selenium.webdriver.common.by import By

    browser.visit("/cockpit/overview")
    assert "/cockpit/login" in browser.driver.current_url  # no session: to the login page
    d = browser.driver
    d.find_element(By.ID, "username").send_keys(browser.cockpit.users["operations"])
    d.find_element(By.ID, "password").send_keys("not the password")
    d.find_element(By.ID, "login-submit").click()
    browser.wait_for(lambda: browser.all("#login-error"))
    assert "用户名或密码错误" in browser.text("#login-error")
    browser.driver.get_log("browser")  # the 401 answer itself is logged by Chromium
    browser.login("operations", next_path="/cockpit/overview")
    assert browser.driver.current_url.endswith("/cockpit/overview")
    cookie = browser.driver.get_cookie("careops_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["path"] == "/cockpit"
    nav = [a.get_attribute("data-nav") for a in browser.all("nav a")]
    assert nav == [
        "overview",
        "layers",
        "funnels",
        "portrait",
        "tasks",
        "experiments",
        "segments",
        "journeys",
    ]


def test_overview_kpis_equal_the_metrics_service(browser):
    from careops.metrics import service
    from careops.web.views import OVERVIEW_KPIS

    browser.login("operations")
    browser.visit(f"/cockpit/overview?as_of={DAY}")
    assert browser.text("#as-of") == DAY
    shown = {card.get_attribute("data-metric"): card for card in browser.all(".kpi[data-metric]")}
    assert list(shown) == list(OVERVIEW_KPIS)
    for name, card in shown.items():
        r = service.metric(browser.cockpit.ops, name, AS_OF).result
        value = card.find_element("css selector", "[data-role=value]").text
        assert value == fmt(r.value, r.unit, "zh"), name
        assert card.find_element("css selector", "[data-role=change]").text.startswith("环比")
    assert any(fmt(None, "count") != c.text for c in browser.all("[data-role=value]"))
    browser.screenshot("overview")
    assert browser.axe_critical() == []
    browser.driver.set_window_size(1920, 1080)  # the wide screen of an operations room
    try:
        browser.screenshot("overview-1920")
        width = browser.driver.execute_script("return document.documentElement.scrollWidth")
        assert width <= 1920  # nothing runs off to the side
    finally:
        browser.driver.set_window_size(1366, 768)
    width = browser.driver.execute_script("return document.documentElement.scrollWidth")
    assert width <= 1366


def test_layers_counts_chart_migration_and_drilldown_to_masked_patients(browser):
    import httpx

    from careops.segments import service as segments
    from careops.tags import service as tags

    ops = browser.cockpit.ops
    browser.login("operations")
    browser.visit(f"/cockpit/layers?as_of={DAY}&start={EARLIER}&end={DAY}")
    browser.wait_for(
        lambda: (
            browser.driver.find_element("tag name", "body").get_attribute("data-charts") == "drawn"
        )
    )
    assert len(browser.all("#chart-lifecycle canvas")) >= 1  # ECharts drew the chart
    expected = {(c.dimension, c.code): c.users for c in tags.layers(ops, AS_OF).counts}
    rows = browser.all("tr[data-layer]")
    assert len(rows) == len(expected)
    for row in rows:
        dim, code = row.get_attribute("data-layer").split("/")
        users = row.find_element("css selector", "[data-role=users]").text
        assert _digits(users) == expected[(dim, code)], (dim, code)

    moved = tags.migration(ops, EARLIER, AS_OF, "lifecycle")
    cells = {c.get_attribute("data-cell"): _digits(c.text) for c in browser.all("td[data-cell]")}
    for r in moved.rows:
        assert cells[f"{r['from'] or ''}>{r['to']}"] == r["users"]
    assert sum(cells.values()) == sum(r["users"] for r in moved.rows)
    browser.screenshot("layers")
    assert browser.axe_critical() == []

    dim, code = max(expected, key=lambda k: expected[k] if k[0] == "lifecycle" else -1)
    browser.driver.find_element("css selector", f'tr[data-layer="{dim}/{code}"] a').click()
    browser.wait_for(lambda: browser.all("#drill-total"))
    browser.assert_clean_console()
    total = int(browser.driver.find_element("id", "drill-total").get_attribute("data-total"))
    count = segments.count(ops, segments.Target(rule=f'{dim} == "{code}"'), AS_OF).count
    assert total == count == expected[(dim, code)]
    patients = browser.all("tr[data-user]")
    assert 0 < len(patients) <= 10
    for phone in browser.all("[data-role=phone]"):
        assert phone.text == "—" or re.fullmatch(r"\d{3}\*{4}\d{4}", phone.text), phone.text
    browser.screenshot("drill")
    export = browser.driver.find_element("id", "export").get_attribute("href")
    session = browser.driver.get_cookie("careops_session")["value"]
    lines = httpx.get(export, cookies={"careops_session": session}).text.split()
    assert lines[0] == "user_id" and len(lines) - 1 == count
    assert lines[1] == patients[0].get_attribute("data-user")

    first = patients[0].get_attribute("data-user")
    patients[0].find_element("css selector", "a").click()
    browser.wait_for(lambda: browser.all("#portrait-user"))
    browser.assert_clean_console()
    assert browser.text("#portrait-user") == first
    assert browser.all("#portrait-tags tr[data-tag]")
    assert not browser.all("#clinical")  # operations: masked portrait, nothing clinical
    browser.screenshot("portrait")
    assert browser.axe_critical() == []


def _patient_of(ops, department: str, inside: bool) -> str:
    """A patient with a consultation in `department` (inside) or never seen there."""
    with ops.warehouse(read_only=True) as con:
        c = con.table("consultations")
        seen = c.filter(c.department == department).select("user_id").distinct()
        if inside:
            ids = seen.user_id.to_pyarrow().to_pylist()
        else:
            p = con.table("patients")
            ids = p.filter(~p.user_id.isin(seen.user_id)).user_id.to_pyarrow().to_pylist()
    return sorted(ids)[0]


def test_a_doctor_reads_clinical_records_of_own_department_only(browser):
    from careops.patients import service as patients

    ops = browser.cockpit.ops
    mine = _patient_of(ops, "心血管内科", inside=True)
    other = _patient_of(ops, "心血管内科", inside=False)
    browser.login("medical")
    nav = [a.get_attribute("data-nav") for a in browser.all("nav a")]
    assert nav == ["layers", "portrait", "tasks", "triage"]
    browser.visit(f"/cockpit/patients/{mine}?as_of={DAY}")
    tabs = {b.get_attribute("data-kind"): b for b in browser.all("#clinical button")}
    assert set(tabs) == {
        "consultations",
        "observations",
        "conditions",
        "prescriptions",
        "encounters",
    }
    tabs["consultations"].click()  # htmx loads the records into the page
    browser.wait_for(lambda: browser.all("#records-kind[data-kind=consultations]"))
    browser.assert_clean_console()
    from careops.service import Actor, Ops

    doctor = Ops.open(
        warehouse=ops.warehouse_url,
        state=ops.state_url,
        settings=ops.settings,
        actor=Actor("dr-wang", "user", ("medical",), ("心血管内科",)),
    )
    try:
        expected = patients.records(doctor, mine, "consultations", limit=20).total
    finally:
        doctor.close()
    shown = browser.all("#records-table tbody tr")
    assert expected > 0 and len(shown) == min(expected, 20)
    browser.screenshot("clinical")
    assert browser.axe_critical() == []

    browser.visit_refused(f"/cockpit/patients/{other}?as_of={DAY}")
    assert "无权" in browser.text("#error")


@pytest.mark.parametrize(
    ("role", "path"),
    [
        ("auditor", "/cockpit/overview"),
        ("auditor", "/cockpit/layers"),
        ("analyst", "/cockpit/patients/U0000001"),
        ("medical", "/cockpit/audit"),
        ("operations", "/cockpit/audit"),
        ("health_manager", "/cockpit/overview"),
    ],
)
def test_a_page_outside_the_role_is_refused(browser, role, path):
    browser.login(role)
    browser.visit_refused(path)
    assert "无权" in browser.text("#error")
    browser.screenshot(role)


def test_auditor_lists_filters_and_verifies_the_trail(browser):
    from careops.state.audit_trail import AuditFilter, list_audit

    browser.login("auditor")
    assert [a.get_attribute("data-nav") for a in browser.all("nav a")] == ["audit"]
    assert browser.driver.current_url.endswith("/cockpit/audit")
    actor = f"user:{browser.cockpit.users['auditor']}"
    browser.visit(f"/cockpit/audit?actor={actor}")
    _, total = list_audit(browser.cockpit.ops.state, AuditFilter(actor=actor), limit=1)
    rows = browser.all("#audit-table tbody tr")
    assert rows and all(r.find_elements("css selector", "td")[1].text == actor for r in rows)
    assert len(rows) <= total
    browser.driver.find_element("id", "verify").click()
    browser.wait_for(lambda: browser.all("#chain"))
    assert "哈希链完整" in browser.text("#chain")
    browser.screenshot("audit")
    assert browser.axe_critical() == []


def test_english_switch_and_logout_ending_the_token(browser):
    import httpx

    browser.login("admin")
    browser.visit(f"/cockpit/layers?as_of={DAY}")
    browser.driver.find_element("id", "lang-switch").click()
    browser.wait_for(
        lambda: browser.driver.find_element("tag name", "html").get_attribute("lang") == "en"
    )
    assert browser.text('nav a[data-nav="layers"]') == "Layers"
    assert "as_of=" in browser.driver.current_url  # back on the same page
    browser.screenshot("english")
    token = browser.driver.get_cookie("careops_session")["value"]
    browser.driver.find_element("id", "logout").click()
    browser.wait_for(lambda: "/cockpit/login" in browser.driver.current_url)
    browser.assert_clean_console()
    # the token itself is revoked, not only the cookie dropped
    r = httpx.get(browser.url("/api/v1/auth/me"), headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 401


def test_a_health_manager_reads_the_readings_of_assigned_patients_only(browser):
    from careops.identity.assignments import assign

    ops = browser.cockpit.ops
    with ops.warehouse(read_only=True) as con:
        o = con.table("observations")
        ids = sorted(o.select("user_id").distinct().user_id.to_pyarrow().to_pylist())
    mine, other = ids[0], ids[1]
    assign(ops, browser.cockpit.users["health_manager"], [mine])
    browser.login("health_manager")
    nav = [a.get_attribute("data-nav") for a in browser.all("nav a")]
    assert nav == ["layers", "portrait", "tasks", "journeys"]
    browser.visit(f"/cockpit/patients/{mine}?as_of={DAY}")
    browser.driver.find_element("css selector", "#clinical button[data-kind=observations]").click()
    browser.wait_for(lambda: browser.all("#records-kind[data-kind=observations]"))
    browser.assert_clean_console()
    assert browser.all("#records-table tbody tr")
    browser.screenshot("readings")
    browser.visit_refused(f"/cockpit/patients/{other}?as_of={DAY}")


def test_a_doctor_works_the_task_queue_alert_first_and_closes_one_with_a_note(browser):
    from datetime import timedelta

    from careops.service import now
    from careops.tasks.store import NewTask, get_task, raise_tasks

    ops = browser.cockpit.ops
    patient = _patient_of(ops, "心血管内科", inside=True)
    at = now()
    common = {
        "kind": "alert",
        "purpose": "medical",
        "assignee_role": "medical",
        "department": "心血管内科",
        "source": "browser-test",
        "user_id": patient,
    }
    items = [
        NewTask(key="bt:later", title="复诊提醒", due_at=at + timedelta(hours=6), **common),
        NewTask(key="bt:alert", title="血压异常", due_at=at + timedelta(minutes=20), **common),
        NewTask(key="bt:late", title="随访超时", due_at=at - timedelta(hours=2), **common),
    ]
    with ops.state.begin() as conn:
        late, alert, later = reversed(raise_tasks(conn, items, at))
    browser.login("medical")
    browser.driver.find_element("css selector", 'nav a[data-nav="tasks"]').click()
    browser.wait_for(lambda: browser.all("#tasks-table"))
    browser.assert_clean_console()
    order = [int(r.get_attribute("data-task")) for r in browser.all("#tasks-table tbody tr")]
    assert order[:3] == [late, alert, later]
    assert browser.text(f'tr[data-task="{alert}"] [data-role=urgency]') == "1 小时内到期的医疗提醒"
    browser.screenshot("tasks")
    assert browser.axe_critical() == []
    browser.driver.find_element("id", f"note-{alert}").send_keys("已电话联系, 嘱复测血压")
    browser.driver.find_element("css selector", f'tr[data-task="{alert}"] [data-role=done]').click()
    browser.wait_for(lambda: browser.all("#task-closed"))
    browser.assert_clean_console()
    with ops.state.connect() as conn:
        task = get_task(conn, alert)
    assert (task.status, task.outcome) == ("done", "已电话联系, 嘱复测血压")
    assert not browser.all(f'tr[data-task="{alert}"]')
    browser.screenshot("task-done")


def test_operations_reads_an_experiments_results_and_stops_a_running_one(browser):
    import datetime as dt

    from careops.experiments import service

    ops = browser.cockpit.ops
    tz = ops.settings.tz
    start = dt.datetime.combine(AS_OF - dt.timedelta(days=60), dt.time(), tz).astimezone(dt.UTC)
    design = {
        "variants": {"control": 0.5, "coupon": 0.5},
        "start": start.isoformat(),
        "primary_metrics": ["arpu", "paid_conversion"],
        "guardrail_metrics": ["complaint_rate"],
    }
    end = (start + dt.timedelta(days=40)).isoformat()
    service.create(ops, {"key": "bt-coupon", "name": "复购券", "end": end, **design})
    service.create(ops, {"key": "bt-live", "name": "进行中", "end": None, **design})
    with ops.warehouse(read_only=True) as con:
        p = con.table("patients")
        ids = p.filter(p.registered_at < start).user_id.to_pyarrow().to_pylist()
    service.expose(ops, "bt-coupon", ids, at=start + dt.timedelta(hours=1))
    outcome = service.analyze_stored(ops, "bt-coupon", as_of=AS_OF)

    browser.login("operations")
    browser.driver.find_element("css selector", 'nav a[data-nav="experiments"]').click()
    browser.wait_for(lambda: browser.all("#experiments-table"))
    browser.assert_clean_console()
    browser.driver.find_element("css selector", 'tr[data-experiment="bt-coupon"] a').click()
    browser.wait_for(lambda: browser.all("#decision"))
    browser.visit(f"/cockpit/experiments/bt-coupon?as_of={DAY}")
    browser.wait_for(
        lambda: (
            browser.driver.find_element("tag name", "body").get_attribute("data-charts") == "drawn"
        )
    )
    for m in outcome.metrics:
        for arm in m.analysis.variants:
            row = f'section[data-metric="{m.name}"] tr[data-variant="{arm.variant}"]'
            cell = browser.text(f"{row} [data-role=n]")
            assert _digits(cell) == arm.n, (m.name, arm.variant)
        srm = browser.driver.find_element(
            "css selector", f'section[data-metric="{m.name}"] [data-role=srm]'
        )
        assert srm.get_attribute("data-flagged") == ("yes" if m.analysis.srm.flagged else "no")
    assert browser.all("#chart-effect-0 canvas")
    assert browser.text("#decision").startswith("结论")
    browser.screenshot("experiment")
    assert browser.axe_critical() == []

    browser.visit("/cockpit/experiments/bt-live")
    browser.driver.find_element("id", "stop").click()
    browser.wait_for(lambda: browser.all("#experiment-stopped"))
    browser.assert_clean_console()
    assert service.get(ops, "bt-live").public().status == "ended"
    status = browser.driver.find_element("id", "experiment-status")
    assert status.get_attribute("data-status") == "ended"
    browser.screenshot("experiment-stopped")


def test_operations_builds_counts_and_saves_a_segment_live(browser):
    from selenium.webdriver.common.by import By

    from careops.segments import service

    ops = browser.cockpit.ops
    rule = 'age >= 60 or lifecycle == "silent"'
    expected = service.count(ops, service.Target(rule=rule), AS_OF).count
    browser.login("operations")
    browser.visit(f"/cockpit/segments?as_of={DAY}")
    box = browser.driver.find_element(By.ID, "rule")
    box.send_keys(rule)  # htmx counts after a pause in typing: no submit
    browser.wait_for(lambda: browser.all("#segment-count"))
    browser.assert_clean_console()
    count = browser.driver.find_element(By.ID, "segment-count")
    assert int(count.get_attribute("data-count")) == expected > 0
    assert count.get_attribute("data-as-of") == DAY
    samples = browser.all("#segment-sample tbody tr")
    assert 0 < len(samples) <= 10
    browser.screenshot("segment-count")
    assert browser.axe_critical() == []
    box.send_keys(" and")  # an unfinished rule: the answer says where, in place
    browser.wait_for(lambda: browser.all("#rule-error"))
    browser.assert_clean_console()
    box.send_keys(' sex == "F"')
    browser.wait_for(lambda: browser.all("#segment-count") and not browser.all("#rule-error"))
    full = f'{rule} and sex == "F"'
    browser.driver.find_element(By.ID, "seg-name").send_keys("bt-elderly-or-silent")
    browser.driver.find_element(By.ID, "save").click()
    browser.wait_for(lambda: browser.all("#segment-saved"))
    browser.assert_clean_console()
    saved = service.get(ops, "bt-elderly-or-silent")
    assert saved.rule_text == service.count(ops, service.Target(rule=full), AS_OF).rule_text
    assert browser.all('tr[data-segment="bt-elderly-or-silent"]')
    shown = int(browser.driver.find_element(By.ID, "segment-count").get_attribute("data-count"))
    assert shown == service.count(ops, service.Target(segment=saved.name), AS_OF).count
    browser.screenshot("segment-saved")


def test_the_visual_editor_writes_the_rule_in_the_dsl_and_counts_it(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from careops.segments import service

    ops = browser.cockpit.ops
    browser.login("operations")
    browser.visit(f"/cockpit/segments?as_of={DAY}")
    d = browser.driver
    Select(d.find_element(By.ID, "ve-tag")).select_by_value("lifecycle")
    Select(d.find_element(By.ID, "ve-op")).select_by_value("==")
    d.find_element(By.ID, "ve-value").send_keys("silent")
    d.find_element(By.ID, "ve-add").click()
    Select(d.find_element(By.ID, "ve-join")).select_by_value("or")
    Select(d.find_element(By.ID, "ve-tag")).select_by_value("age")
    Select(d.find_element(By.ID, "ve-op")).select_by_value(">=")
    value = d.find_element(By.ID, "ve-value")
    value.clear()
    value.send_keys("60")
    d.find_element(By.ID, "ve-add").click()
    rule = 'lifecycle == "silent" or age >= 60'
    assert d.find_element(By.ID, "rule").get_attribute("value") == rule
    expected = service.count(ops, service.Target(rule=rule), AS_OF)
    browser.wait_for(
        lambda: browser.all("#segment-count") and browser.text("#rule-text") == expected.rule_text
    )
    browser.assert_clean_console()
    shown = d.find_element(By.ID, "segment-count").get_attribute("data-count")
    assert int(shown) == expected.count
    browser.screenshot("visual-editor")
    assert browser.axe_critical() == []
