"""The 实验 page without a browser, on a small simulated hospital: the list, one experiment's
results (numbers equal to the experiments service and to an independent SRM check), the SRM
warning on a broken split, the decision text, stop behind CSRF and `experiments.write`."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from fastapi.testclient import TestClient
from scipy.stats import chisquare

from careops.api.app import create_app
from careops.experiments import service
from careops.experiments.exposure import exposure_table
from careops.experiments.store import log_exposures
from careops.identity import accounts
from careops.ingest.pipeline import ingest_paths
from careops.service import Ops
from careops.sim import SimConfig, simulate
from careops.sim.writer import table_paths
from careops.warehouse import connect, create_tables
from careops.web.views import _p, decision
from tests.api.world import PASSWORD, isolated_settings
from tests.web.test_pages import _csrf

STAFF = {"operations": "ops-li", "analyst": "ana-chen", "medical": "dr-wang"}
UTC8 = dt.timezone(dt.timedelta(hours=8))
START = dt.datetime(2025, 5, 1, tzinfo=UTC8).astimezone(dt.UTC)
END = dt.datetime(2025, 6, 1, tzinfo=UTC8).astimezone(dt.UTC)
AS_OF = "2025-06-20"


def _define(key: str, **extra) -> dict:
    return {
        "key": key,
        "name": f"优惠券 {key}",
        "variants": {"control": 0.5, "coupon": 0.5},
        "start": START.isoformat(),
        "end": END.isoformat(),
        "primary_metrics": ["arpu", "paid_conversion"],
        "guardrail_metrics": ["complaint_rate"],
        **extra,
    }


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("cockpit-exp")
    settings = isolated_settings()
    cfg = SimConfig(users=600, days=120, seed=11, start=dt.date(2025, 3, 1))
    out = simulate(cfg, root / "sim").out
    warehouse = f"duckdb:///{root / 'w.duckdb'}"
    state = f"sqlite:///{root / 'w.state.db'}"
    con = connect(warehouse)
    create_tables(con)
    assert ingest_paths(con, table_paths(out), settings=settings).exit_code == 0
    p = con.table("patients")
    eligible = p.filter(p.registered_at < START).user_id.to_pyarrow().to_pylist()
    con.disconnect()
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    for role, name in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, ("心血管内科",) if role == "medical" else ())
    service.create(ops, _define("coupon"))
    service.expose(ops, "coupon", eligible, at=START + dt.timedelta(hours=2))
    # a broken split: every control user logged, one treatment user in ten
    skewed = service.create(ops, _define("skewed")).experiment
    rows = exposure_table(
        service.get(ops, "skewed").definition.definition(), eligible, START + dt.timedelta(hours=3)
    )
    treated = pc.equal(rows.column("variant"), "coupon")
    keep = pc.or_(
        pc.invert(treated), pc.equal(pc.bit_wise_and(pa.array(range(len(rows)), pa.int64()), 7), 0)
    )
    log_exposures(ops.state, rows.filter(keep))
    assert skewed.key == "skewed"
    service.create(
        ops, _define("later", start=dt.datetime(2030, 1, 1, tzinfo=dt.UTC).isoformat(), end=None)
    )
    service.create(ops, _define("live", end=None))
    app = create_app(settings, warehouse=warehouse, state=state)
    yield app, ops
    ops.close()


@pytest.fixture
def client(world) -> Iterator[TestClient]:
    with TestClient(world[0], follow_redirects=False, raise_server_exceptions=False) as c:
        yield c


def login(client: TestClient, role: str) -> str:
    form = client.get("/cockpit/login")
    r = client.post(
        "/cockpit/login",
        data={"csrf": _csrf(form.text), "username": STAFF[role], "password": PASSWORD},
    )
    assert r.status_code == 303, r.text
    page = client.get("/cockpit/experiments")
    return _csrf(page.text) if page.status_code == 200 else ""


def _cell(html: str, metric: str, variant: str, role: str) -> str:
    block = re.search(rf'data-metric="{metric}".*?</section>', html, re.S).group(0)
    row = re.search(rf'data-variant="{variant}".*?</tr>', block, re.S).group(0)
    return re.search(rf'data-role="{role}">([^<]*)<', row).group(1).strip()


def test_the_list_shows_every_experiment_with_its_status(client):
    login(client, "analyst")
    page = client.get("/cockpit/experiments").text
    status = dict(re.findall(r'data-experiment="([\w-]+)" data-status="(\w+)"', page))
    assert status == {
        "coupon": "ended",
        "skewed": "ended",
        "later": "planned",
        "live": "running",
    }
    assert "A/B 实验" in page and "未开始" in page and 'data-nav="experiments"' in page


def test_results_equal_the_service_and_an_independent_srm_check(client, world):
    _, ops = world
    login(client, "analyst")
    r = client.get(f"/cockpit/experiments/coupon?as_of={AS_OF}")
    assert r.status_code == 200, r.text
    page = r.text
    outcome = service.analyze_stored(ops, "coupon", as_of=dt.date.fromisoformat(AS_OF))
    exposures = service.read_exposures(ops, "coupon")
    counts = {
        v: int(pc.sum(pc.equal(exposures.column("variant"), v)).as_py())
        for v in ("control", "coupon")
    }
    assert sum(counts.values()) > 200
    for m in outcome.metrics:
        arms = {a.variant: a for a in m.analysis.variants}
        assert int(_cell(page, m.name, "control", "n").replace(",", "")) == arms["control"].n
        f = arms["coupon"].frequentist
        if f.error:
            continue
        assert _cell(page, m.name, "coupon", "p").startswith(_p(f.p_value))
        lo, hi = f.absolute_ci
        assert lo <= f.absolute_lift <= hi
    # the SRM p-value, recomputed from the stored exposures with scipy's chi-square
    total = sum(counts.values())
    expected = chisquare(list(counts.values()), [total / 2, total / 2]).pvalue
    srm = re.search(r'data-role="srm" data-flagged="(\w+)">[^=]*= ([^ ]+) ', page)
    assert srm.group(1) == "no" and float(srm.group(2)) == pytest.approx(expected, abs=1e-4)
    tone, text = decision(outcome, "zh")
    assert f'data-tone="{tone}"' in page and text in page
    assert 'id="chart-effect-0"' in page and '<script type="application/json"' in page
    assert 'id="stop"' not in page  # an analyst may read, not stop


def test_a_broken_split_is_flagged_and_voids_the_decision(client):
    login(client, "analyst")
    page = client.get(f"/cockpit/experiments/skewed?as_of={AS_OF}").text
    assert 'data-flagged="yes"' in page and "分组比例异常" in page
    assert 'data-tone="bad"' in page and "勿据此决策" in page


def test_stop_needs_csrf_and_the_write_permission(client, world):
    _, ops = world
    csrf = login(client, "operations")
    assert service.get(ops, "live").public().status == "running"
    page = client.get("/cockpit/experiments/live").text
    assert 'id="stop"' in page and "暂无结果" in page  # nobody exposed yet
    assert 'id="stop"' not in client.get("/cockpit/experiments/later").text  # not started
    r = client.post("/cockpit/experiments/live/stop", data={"csrf": "forged"})
    assert r.status_code == 403 and "CSRF" in r.text
    assert service.get(ops, "live").definition.end is None
    r = client.post("/cockpit/experiments/live/stop", data={"csrf": csrf})
    assert r.status_code == 303 and r.headers["location"] == "/cockpit/experiments/live?stopped=1"
    assert service.get(ops, "live").definition.end is not None
    assert 'id="experiment-stopped"' in client.get(r.headers["location"]).text
    client.cookies.clear()
    csrf = login(client, "analyst")
    r = client.post("/cockpit/experiments/coupon/stop", data={"csrf": csrf})
    assert r.status_code == 403 and "experiments.write" in r.text


def test_a_role_without_experiments_read_is_refused(client):
    login(client, "medical")
    for path in ("/cockpit/experiments", "/cockpit/experiments/coupon"):
        r = client.get(path)
        assert r.status_code == 403 and "experiments.read" in r.text


@pytest.mark.parametrize(
    ("path", "status", "needle"),
    [
        ("/cockpit/experiments/nope", 404, "nope"),
        ("/cockpit/experiments/" + "k" * 100, 422, "key"),
        ("/cockpit/experiments/coupon?as_of=tomorrow", 422, "as_of"),
        ("/cockpit/experiments/%3Cscript%3E", 404, "&lt;script&gt;"),
    ],
)
def test_hostile_experiment_input(client, path, status, needle):
    login(client, "analyst")
    r = client.get(path)
    assert r.status_code == status, r.text[:500]
    assert needle in r.text and "<script>" not in r.text and "Traceback" not in r.text


def test_english_labels(client):
    login(client, "analyst")
    client.get("/cockpit/lang/en", params={"next": "/cockpit/experiments"})
    page = client.get(f"/cockpit/experiments/skewed?as_of={AS_OF}").text
    assert '<html lang="en">' in page and "Decision" in page and "Fix the assignment" in page
    assert "not started" in client.get("/cockpit/experiments").text
