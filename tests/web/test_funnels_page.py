"""The 漏斗与留存 page without a browser, on a small simulated hospital: the funnel and the
cohort table equal to the metrics service's for the same choice (the function behind the CLI
and the API), step 1 and cohort sizes equal to an independent count of registrations, the
worst drop marked, a breakdown per layer and channel, CSV downloads, roles, hostile input."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
from collections.abc import Iterator
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient

from careops.api.app import create_app
from careops.identity import accounts
from careops.ingest.pipeline import ingest_paths
from careops.metrics import service
from careops.service import Ops
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths
from careops.warehouse import connect, create_tables
from careops.web.funnels import heat
from tests.api.world import PASSWORD, isolated_settings
from tests.web.test_pages import _csrf

STAFF = {"operations": "ops-li", "analyst": "ana-chen", "medical": "dr-wang", "auditor": "aud-sun"}
AS_OF = dt.date(2025, 7, 1)
TZ = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cockpit-funnels")
    settings = isolated_settings()
    out = simulate(SimConfig(users=400, days=150, seed=5, start=dt.date(2025, 2, 1)), root).out
    warehouse = f"duckdb:///{root / 'w.duckdb'}"
    state = f"sqlite:///{root / 'w.state.db'}"
    con = connect(warehouse)
    create_tables(con)
    assert ingest_paths(con, table_paths(out), settings=settings).exit_code == 0
    registered = con.table("patients").registered_at.to_pyarrow().to_pylist()
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    yield create_app(settings, warehouse=warehouse, state=state), ops, registered
    ops.close()


@pytest.fixture
def client(world) -> Iterator[TestClient]:
    with TestClient(world[0], follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, role: str) -> None:
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": STAFF[role], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text


def _steps(html: str, group: str = "") -> dict[str, tuple[int, str, int]]:
    """(users, rate from the previous step, dropped) per step of one funnel table."""
    block = re.search(rf'<table class="funnel-table" data-group="{group}">.*?</table>', html, re.S)
    out = {}
    for row in re.findall(r'<tr data-step="(\w+)".*?</tr>', block.group(0), re.S):
        out[row] = None
    for code, body in re.findall(r'<tr data-step="(\w+)"[^>]*>(.*?)</tr>', block.group(0), re.S):
        users = re.search(r'data-role="users">([\d,]+)<', body).group(1)
        prev = re.search(r'data-role="from-previous">([^<]+)<', body).group(1)
        dropped = re.search(r'data-role="dropped">([\d,]+)<', body).group(1)
        out[code] = (int(users.replace(",", "")), prev, int(dropped.replace(",", "")))
    return out


def _local_day(ts: dt.datetime) -> dt.date:
    return (ts if ts.tzinfo else ts.replace(tzinfo=dt.UTC)).astimezone(TZ).date()


QUERY = (
    f"as_of={AS_OF}&step=register&step=consult&step=pay&step=repurchase"
    "&period_days=60&conversion_days=30&grain=week&cohort_days=91"
)


def test_the_funnel_equals_the_metrics_service_and_step_one_an_independent_count(client, world):
    _, ops, registered = world
    login(client, "analyst")
    r = client.get(f"/cockpit/funnels?{QUERY}")
    assert r.status_code == 200, r.text[:2000]
    page = r.text
    ref = service.metric(
        ops,
        "funnel",
        AS_OF,
        steps="register,consult,pay,repurchase",
        period_days=60,
        conversion_days=30,
    ).result
    shown = _steps(page)
    assert list(shown) == ["register", "consult", "pay", "repurchase"]
    for s in ref.steps:
        users, prev, dropped = shown[s.step]
        assert users == s.users and dropped == s.dropped
        assert prev == f"{s.rate_from_previous * 100:.1f}%"
    # step 1 (register) entered in the 60 days ending 30 days before the as-of (hospital days)
    since, until = AS_OF - dt.timedelta(days=90), AS_OF - dt.timedelta(days=30)
    assert shown["register"][0] == sum(since <= _local_day(t) < until for t in registered) > 50
    assert all(shown[c][0] > 0 for c in ("consult", "pay"))
    # the step that loses the largest share of the step before is marked
    losses = {
        s.step: 1 - s.rate_from_previous for s in ref.steps[1:] if s.rate_from_previous is not None
    }
    worst = max(losses, key=losses.get)
    assert re.search(rf'<tr data-step="{worst}" class="worst">', page)
    assert page.count('class="worst"') == 1
    assert "漏斗与留存" in page and 'id="chart-funnel"' in page and "注册" in page
    assert 'aria-current="page"' in page and 'data-nav="funnels"' in page


def test_cohort_retention_equals_the_service_and_cohorts_hold_every_registration(client, world):
    _, ops, registered = world
    login(client, "operations")
    page = client.get(f"/cockpit/funnels?{QUERY}").text
    ref = service.metric(
        ops, "cohort_retention", AS_OF, grain="week", days="1,7,30", window_days=91
    ).result
    rows = re.findall(r'<tr data-cohort="([\d-]+)" data-group="">(.*?)</tr>', page, re.S)
    assert [c for c, _ in rows] == [r.cohort.isoformat() for r in ref.rows]
    for (_, body), r in zip(rows, ref.rows, strict=True):
        assert int(re.search(r'data-role="size">([\d,]+)<', body).group(1)) == r.size
        cells = dict(re.findall(r'data-day="(\d+)"[^>]*>([^<]+)<', body))
        for n in (1, 7, 30):
            v = r.retention[n]
            assert cells[str(n)] == ("—" if v is None else f"{v * 100:.1f}%")
    since = AS_OF - dt.timedelta(days=91)
    expected = sum(since <= _local_day(t) < AS_OF for t in registered)
    assert sum(r.size for r in ref.rows) == expected > 50
    assert 'id="chart-retention"' in page


def test_a_breakdown_by_layer_and_by_channel(client, world):
    _, ops, _ = world
    login(client, "analyst")
    for by, heading in (("lifecycle", "生命周期"), ("channel", "渠道")):
        page = client.get(f"/cockpit/funnels?{QUERY}&by={by}").text
        ref = service.metric(
            ops,
            "funnel",
            AS_OF,
            by=by,
            steps="register,consult,pay,repurchase",
            period_days=60,
            conversion_days=30,
        ).result
        assert ref.groups and f"转化漏斗 · {heading}" in page
        for group, steps in ref.groups.items():
            shown = _steps(page, re.escape(group))
            assert [shown[s.step][0] for s in steps] == [s.users for s in steps]
        cohort = service.metric(
            ops, "cohort_retention", AS_OF, by=by, grain="week", days="1,7,30", window_days=91
        ).result
        sizes = re.findall(
            r'<tr data-cohort="[\d-]+" data-group="[^"]+">.*?data-role="size">'
            r"([\d,]+)<",
            page,
            re.S,
        )
        assert [int(s.replace(",", "")) for s in sizes] == [r.size for r in cohort.rows]


def test_csv_downloads_carry_the_pages_numbers(client, world):
    _, ops, _ = world
    login(client, "analyst")
    page = client.get(f"/cockpit/funnels?{QUERY}&by=channel").text
    href = re.search(r'id="csv-funnel" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    r = client.get(href)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="funnel-2025-07-01-channel.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.text.lstrip("\ufeff"))))
    ref = service.metric(
        ops,
        "funnel",
        AS_OF,
        by="channel",
        steps="register,consult,pay,repurchase",
        period_days=60,
        conversion_days=30,
    ).result
    overall = [x for x in rows if x["group"] == ""]
    assert [int(x["users"]) for x in overall] == [s.users for s in ref.steps]
    assert {x["group"] for x in rows} - {""} == set(ref.groups)
    assert overall[1]["label"] == "问诊"
    href = re.search(r'id="csv-cohort" href="([^"]+)"', page).group(1).replace("&amp;", "&")
    rows = list(csv.DictReader(io.StringIO(client.get(href).text.lstrip("\ufeff"))))
    cohort = service.metric(
        ops, "cohort_retention", AS_OF, by="channel", grain="week", days="1,7,30", window_days=91
    ).result
    assert [int(x["size"]) for x in rows] == [r.size for r in cohort.rows]
    assert [x["d7_retained"] for x in rows] == [str(r.retained[7]) for r in cohort.rows]


def test_defaults_open_on_the_data_and_the_form_keeps_the_choice(client):
    login(client, "operations")
    r = client.get("/cockpit/funnels")
    assert r.status_code == 200, r.text[:1000]
    # the default funnel: register → search → consult → pay → repurchase
    assert list(_steps(r.text)) == ["register", "search", "consult", "pay", "repurchase"]
    page = client.get(f"/cockpit/funnels?{QUERY}&grain=month").text
    assert '<option value="pay" selected>' in page and 'value="60" required' in page
    assert '<option value="month" selected>' in page


def test_roles_without_metrics_read_are_refused(client):
    for role in ("medical", "auditor"):
        client.cookies.clear()
        login(client, role)
        for path in ("/cockpit/funnels", "/cockpit/funnels/funnel.csv"):
            r = client.get(path)
            assert r.status_code == 403 and "metrics.read" in r.text
        assert 'data-nav="funnels"' not in client.get("/cockpit/").text


@pytest.mark.parametrize(
    ("query", "needle"),
    [
        ("step=register&step=nope", "step"),
        ("step=register", "step"),
        ("step=" + "&step=".join(["register"] * 7), "step"),
        ("step=%3Cscript%3E&step=pay", "step"),
        ("period_days=0", "period_days"),
        ("period_days=abc", "period_days"),
        ("conversion_days=91", "conversion_days"),
        ("cohort_days=-1", "cohort_days"),
        ("by=DROP%20TABLE", "by"),
        ("by=sex", "by"),
        ("grain=year", "grain"),
        ("as_of=2999-01-01", "as_of"),
        ("as_of=yesterday", "as_of"),
        ("step=%00", "step"),
    ],
)
def test_hostile_input_is_a_422_naming_the_field(client, query, needle):
    login(client, "analyst")
    for path in ("/cockpit/funnels", "/cockpit/funnels/cohort.csv"):
        r = client.get(f"{path}?{query}")
        assert r.status_code == 422, (query, r.text[:500])
        assert needle in r.text and "<script>" not in r.text and "Traceback" not in r.text
    assert client.get("/cockpit/funnels/other.csv").status_code == 422


def test_english_labels(client):
    login(client, "analyst")
    client.get("/cockpit/lang/en", params={"next": "/cockpit/funnels"})
    page = client.get(f"/cockpit/funnels?{QUERY}").text
    assert "Funnels and retention" in page and "Register" in page and "Cohort retention" in page


def test_heat_keeps_text_readable():
    assert heat(None, 0.5) == ("#ffffff", "#1f2937")
    assert heat(0.0, 0.5)[0] == "#f4f9ff"
    assert heat(0.5, 0.5) == ("#1f5faf", "#ffffff")  # the top: dark blue, white text
    assert heat(2.0, 0.5) == heat(0.5, 0.5)  # clipped
