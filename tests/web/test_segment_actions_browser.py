"""Acting on a saved segment in a real headless Chromium (the shared simulated hospital of
`tests/web/world.py`): from the saved list to the 新建实验 form, a bad share refused in place,
then the experiment created on the segment and shown; no console error, no critical axe
violation, screenshots under test-artifacts/cockpit/."""

from __future__ import annotations

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("cockpit")]


def test_operations_starts_an_experiment_on_a_saved_segment(browser):
    from selenium.webdriver.common.by import By

    from careops.experiments import service as experiments
    from careops.segments import service as segments
    from careops.segments.saved import SegmentCreate

    ops = browser.cockpit.ops
    segments.save(ops, SegmentCreate(name="silent_risk", rule='lifecycle == "silent"'))
    browser.login("operations")
    browser.visit("/cockpit/segments")
    row = browser.driver.find_element(By.CSS_SELECTOR, 'tr[data-segment="silent_risk"]')
    export = row.find_element(By.CSS_SELECTOR, '[data-role="export"]').get_attribute("href")
    assert "/cockpit/segments/export.csv?segment=silent_risk" in export
    row.find_element(By.CSS_SELECTOR, '[data-role="experiment"]').click()
    browser.wait_for(lambda: browser.all("#experiment-form"))
    browser.assert_clean_console()
    chosen = browser.driver.find_element(By.CSS_SELECTOR, "#x-segment option:checked")
    assert chosen.get_attribute("value") == "silent_risk"
    browser.screenshot("experiment-form")
    assert browser.axe_critical() == []
    d = browser.driver
    d.find_element(By.ID, "x-key").send_keys("silent-sms")
    d.find_element(By.ID, "x-name").send_keys("沉默用户短信召回")
    d.execute_script("document.getElementById('x-share').value = '100'")  # past the max
    d.find_element(By.CSS_SELECTOR, '#x-guardrail input[value="complaint_rate"]').click()
    d.execute_script("document.getElementById('experiment-form').noValidate = true")
    d.find_element(By.ID, "experiment-create").click()
    browser.wait_for(lambda: browser.all("#form-error"))
    assert "share" in browser.text("#form-error")
    logged = [e for e in d.get_log("browser") if e["level"] == "SEVERE"]
    assert all("status of 422" in e["message"] for e in logged), logged  # the page's own 422
    browser.screenshot("experiment-form-error")
    assert "silent-sms" not in [e.key for e in experiments.list_experiments(ops)]
    share = d.find_element(By.ID, "x-share")
    share.clear()
    share.send_keys("40")
    d.find_element(By.ID, "experiment-create").click()
    browser.wait_for(lambda: browser.all("#experiment-created"))
    browser.assert_clean_console()
    definition = experiments.get(ops, "silent-sms").definition
    assert definition.segment == "silent_risk" and definition.name == "沉默用户短信召回"
    assert {v.name: v.weight for v in definition.variants} == {"control": 0.6, "treatment": 0.4}
    assert definition.guardrail_metrics == ("complaint_rate",)
    browser.screenshot("experiment-created")
    assert browser.axe_critical() == []
    experiments.delete(ops, "silent-sms")  # leave the shared hospital as it was
    segments.delete(ops, "silent_risk")
