"""The 漏斗与留存 page in a real headless Chromium (the shared simulated hospital of
`tests/web/world.py`): the funnel and cohort sizes equal to the metrics service's, steps
chosen in the form, both charts drawn; no console error, no critical axe violation,
screenshots under test-artifacts/cockpit/."""

from __future__ import annotations

import pytest

from tests.web.world import AS_OF

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("cockpit")]


def test_operations_chooses_funnel_steps_and_reads_retention(browser):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    from careops.metrics import service

    ops = browser.cockpit.ops
    browser.login("operations")
    browser.driver.find_element(By.CSS_SELECTOR, 'nav a[data-nav="funnels"]').click()
    browser.wait_for(lambda: browser.all("#funnel-form"))
    browser.assert_clean_console()
    browser.driver.get(browser.url(f"/cockpit/funnels?as_of={AS_OF}"))
    browser.wait_for(
        lambda: (
            browser.driver.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn"
        )
    )
    # choose register → consult → pay, a 90-day entry window, by lifecycle, in the form
    for i, code in enumerate(("register", "consult", "pay", "", "", ""), start=1):
        Select(browser.driver.find_element(By.ID, f"step-{i}")).select_by_value(code)
    period = browser.driver.find_element(By.ID, "period_days")
    period.clear()
    period.send_keys("90")
    Select(browser.driver.find_element(By.ID, "by")).select_by_value("lifecycle")
    browser.driver.find_element(By.ID, "funnel-apply").click()
    browser.wait_for(lambda: "by=lifecycle" in browser.driver.current_url)
    browser.wait_for(
        lambda: (
            browser.driver.find_element(By.TAG_NAME, "body").get_attribute("data-charts") == "drawn"
        )
    )
    browser.assert_clean_console()
    ref = service.metric(
        ops,
        "funnel",
        AS_OF,
        by="lifecycle",
        steps="register,consult,pay",
        period_days=90,
        conversion_days=30,
    ).result
    rows = browser.all('table.funnel-table[data-group=""] tbody tr')
    assert [r.get_attribute("data-step") for r in rows] == ["register", "consult", "pay"]
    shown = [
        int(r.find_element(By.CSS_SELECTOR, '[data-role="users"]').text.replace(",", ""))
        for r in rows
    ]
    assert shown == [s.users for s in ref.steps] and shown[0] > 0
    assert len(browser.all("table.funnel-table")) == 1 + len(ref.groups)
    cohort = service.metric(
        ops,
        "cohort_retention",
        AS_OF,
        grain="week",
        days="1,7,30",
        window_days=182,
        by="lifecycle",
    ).result
    sizes = [
        int(e.text.replace(",", "")) for e in browser.all('#retention-table [data-role="size"]')
    ]
    assert sizes == [r.size for r in cohort.rows]
    # both charts hold a canvas drawn by ECharts
    for chart in ("#chart-funnel", "#chart-retention"):
        assert browser.all(f"{chart} canvas")
    browser.screenshot("funnels")
    assert browser.axe_critical() == []
    browser.driver.execute_script("document.getElementById('retention').scrollIntoView()")
    browser.screenshot("retention")


def test_a_doctor_has_no_funnels_page(browser):
    browser.login("medical")
    assert not browser.all('nav a[data-nav="funnels"]')
    browser.visit_refused("/cockpit/funnels")


def test_a_portrait_shows_a_stored_churn_score_and_its_reasons(browser):
    """A churn score stored (as `churn score --store` does) enters the day's tags when they
    are computed after it (the daily order: score, then tags; a snapshot computed before the
    scores keeps no score); the portrait then shows it with its reasons, driver and band."""
    from datetime import timedelta

    import pyarrow as pa

    from careops.tags import service as tags
    from careops.tags.smart import store_scores

    ops = browser.cockpit.ops
    with ops.warehouse(read_only=True) as con:
        uid = con.table("patients").order_by("user_id").user_id.to_pyarrow()[3].as_py()
    scores = pa.table(
        {
            "user_id": [uid],
            "churn_score": pa.array([82], pa.int16()),
            "churn_reasons": ["近40天未打开应用; 近90天问诊次数少"],
            "churn_driver": ["unmet_need"],
        }
    )
    with ops.warehouse(existing=True) as con:
        store_scores(con, "churn", AS_OF - timedelta(days=1), scores)
    tags.compute(ops, AS_OF)
    browser.login("operations")
    browser.visit(f"/cockpit/patients/{uid}?as_of={AS_OF}")
    browser.wait_for(lambda: browser.all("#recommendations p, #recommendations table"))
    score = browser.driver.find_element("id", "churn-score")
    assert score.get_attribute("data-score") == "82" and score.get_attribute("data-band") == "high"
    reasons = [li.text for li in browser.all("#churn-reasons li")]
    assert reasons == ["近40天未打开应用", "近90天问诊次数少"]
    assert browser.text("#churn-driver") == "需求未满足"
    browser.assert_clean_console()
    browser.driver.execute_script("document.getElementById('scores').scrollIntoView()")
    browser.screenshot("portrait-scores")
    assert browser.axe_critical() == []
