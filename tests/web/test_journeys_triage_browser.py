"""The 旅程 and 导诊 pages in a real headless Chromium (the shared simulated hospital of
`tests/web/world.py`): content equal to the services', a switch flipped with a note, an
answer arriving through htmx with the emergency first; no console error, no critical axe
violation, screenshots under test-artifacts/cockpit/."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("cockpit")]

J = "silent_recall"


def test_operations_reads_a_journeys_flow_and_stats_and_switches_it(browser):
    from selenium.webdriver.common.by import By

    from careops.journeys import switch
    from careops.journeys.measure import measure
    from careops.journeys.service import list_journeys, show_journey

    ops = browser.cockpit.ops
    browser.login("operations")
    browser.driver.find_element(By.CSS_SELECTOR, 'nav a[data-nav="journeys"]').click()
    browser.wait_for(lambda: browser.all("#journeys-table"))
    browser.assert_clean_console()
    shown = {
        r.get_attribute("data-journey"): r.get_attribute("data-enabled")
        for r in browser.all("#journeys-table tbody tr")
    }
    assert shown == {j.key: "on" if j.enabled else "off" for j in list_journeys(ops) if j.key}
    browser.screenshot("journeys")
    assert browser.axe_critical() == []

    browser.driver.find_element(By.CSS_SELECTOR, f'a[href="/cockpit/journeys/{J}"]').click()
    browser.wait_for(lambda: browser.all("#journey-flow"))
    browser.assert_clean_console()
    steps = [li.get_attribute("data-step") for li in browser.all("#journey-flow > li")]
    assert steps == [s["id"] for s in show_journey(ops, J).definition["steps"]]
    m = measure(ops, J, window_days=7)
    assert int(browser.text("#journey-entered").replace(",", "")) == m.entered
    rows = {r.get_attribute("data-step") for r in browser.all("#journey-stats tbody tr")}
    assert rows == {s.step for s in m.steps}
    was = switch.state_of(ops, J, "template").enabled
    browser.driver.find_element(By.ID, "switch-note").send_keys("浏览器测试")
    browser.driver.find_element(By.ID, "journey-toggle").click()
    browser.wait_for(lambda: browser.all("#journey-switched"))
    browser.assert_clean_console()
    now = switch.state_of(ops, J, "template")
    assert now.enabled is (not was) and now.note == "浏览器测试"
    state = browser.driver.find_element(By.ID, "journey-state").get_attribute("data-enabled")
    assert state == ("on" if now.enabled else "off")
    browser.screenshot("journey")
    assert browser.axe_critical() == []
    switch.set_enabled(ops, J, was, "恢复")  # leave the shared hospital as it was


def test_a_doctor_triages_an_emergency_first_then_departments(browser):
    from selenium.webdriver.common.by import By

    from careops.triage.service import open_triage

    text = "胸口压榨样疼痛, 出冷汗, 疼到左胳膊"
    want = open_triage(None, browser.cockpit.ops).ask(text, top=5).as_dict()
    browser.login("medical")
    browser.driver.find_element(By.CSS_SELECTOR, 'nav a[data-nav="triage"]').click()
    browser.wait_for(lambda: browser.all("#triage-text"))
    browser.assert_clean_console()
    assert browser.axe_critical() == []
    browser.driver.find_element(By.ID, "triage-text").send_keys(text)
    browser.driver.find_element(By.ID, "triage-submit").click()
    browser.wait_for(lambda: browser.all("#triage-emergency"))
    browser.assert_clean_console()
    assert browser.driver.current_url.endswith("/cockpit/triage")  # htmx: no page load
    assert want["emergency"] and "120" in browser.text("#triage-emergency")
    shown = [
        r.get_attribute("data-department")
        for r in browser.all("#triage-departments tr[data-department]")
    ]
    assert shown == [d["name"] for d in want["departments"]]
    doctors = [
        r.get_attribute("data-doctor") for r in browser.all("#triage-doctors tr[data-doctor]")
    ]
    assert doctors == [d["doctor_id"] for d in want["doctors"]]
    browser.screenshot("triage")
    assert browser.axe_critical() == []
