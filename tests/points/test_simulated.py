"""Points and referral on a simulated hospital, through the CLI, checked against independent
counts read straight from the simulator's Parquet files."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter, defaultdict

import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.sim import SimConfig, simulate, table_paths


@pytest.fixture(scope="module")
def hospital(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    root = tmp_path_factory.mktemp("points-sim")
    cfg = SimConfig(users=500, days=150, seed=7, start=dt.date(2025, 1, 1))
    simulate(cfg, root / "sim")
    url = f"duckdb:///{root / 'w.duckdb'}"
    con = connect(url)
    create_tables(con)
    ingest_paths(con, table_paths(root / "sim"), settings=get_settings())
    con.disconnect()
    return {"w": url, "state": f"sqlite:///{root / 's.db'}", "sim": root / "sim", "end": cfg.end}


def read(h, name):
    return pq.read_table(h["sim"] / f"{name}.parquet")


def cli(run_cli, h, *args):
    code, out, err = run_cli(*args, "-w", h["w"], "--state", h["state"])
    assert code == 0, err
    return out


def test_points_from_the_simulated_warehouse(run_cli, hospital):
    h = hospital
    as_of = h["end"].isoformat()
    first = json.loads(
        cli(run_cli, h, "points", "earn", "--from-warehouse", "--as-of", as_of, "--json")
    )
    again = json.loads(
        cli(run_cli, h, "points", "earn", "--from-warehouse", "--as-of", as_of, "--json")
    )
    assert again["new"] == {"patient": 0, "doctor": 0}  # a replayed sync credits nothing
    # independent: paid check-up/package/consultation orders and surveys, from the Parquet files
    orders = read(h, "orders")
    paid = orders.filter(pc.equal(orders["status"], "paid"))
    cats = Counter(paid["category"].to_pylist())
    surveys = read(h, "surveys").num_rows
    expected = cats["checkup"] + cats["package"] + cats["consultation"] + surveys
    assert first["new"]["patient"] == expected > 0
    cons = read(h, "consultations")
    answered = pc.sum(pc.is_valid(cons["first_reply_s"])).as_py()
    good = pc.sum(pc.greater_equal(pc.fill_null(cons["rating"], 0), 4.0)).as_py()
    # articles: one per content item with an author, at its publication (before as-of)
    cat = read(h, "catalogue").to_pylist()
    tz = get_settings().tz
    cutoff = dt.datetime.combine(h["end"], dt.time(), tzinfo=tz)
    start = dt.datetime.combine(dt.date(2025, 1, 1), dt.time(), tzinfo=tz)
    arts = [c for c in cat if c["kind"] == "content" and c["author_doctor_id"]]
    assert len(arts) == sum(c["kind"] == "content" for c in cat) > 100
    assert {c["author_doctor_id"] for c in arts} <= set(read(h, "doctors")["doctor_id"].to_pylist())
    written = [c for c in arts if c["published_at"] < cutoff]
    in_window = [c for c in written if c["published_at"] >= start]
    assert 0 < len(in_window) < len(written)
    assert first["new"]["doctor"] == answered + good + len(written)
    # one patient's balance equals 100 per check-up + … from their own orders
    per = defaultdict(int)
    rules = {"checkup": 100, "package": 200, "consultation": 20}
    for r in paid.select(["user_id", "category"]).to_pylist():
        per[r["user_id"]] += rules.get(r["category"], 0)
    for r in read(h, "surveys").select(["user_id"]).to_pylist():
        per[r["user_id"]] += 10
    who = max(per, key=per.get)
    b = json.loads(
        cli(run_cli, h, "points", "balance", who, "--at", f"{as_of}T00:00:00+08:00", "--json")
    )
    assert b["available"] == per[who]
    levels = json.loads(
        cli(run_cli, h, "points", "levels", "--at", f"{as_of}T00:00:00+08:00", "--json")
    )
    assert sum(r["holders"] for r in levels) == len(per)
    # doctors compared within their department
    rep = json.loads(
        cli(run_cli, h, "points", "doctors", "--from", "2025-01-01", "--to", as_of, "--json")
    )
    doctors = read(h, "doctors")
    assert len(rep) == doctors.num_rows
    assert sum(r["points"] for r in rep) == 10 * answered + 5 * good + 50 * len(in_window)
    by = Counter(c["author_doctor_id"] for c in in_window)
    top = max(by, key=by.get)
    assert next(r for r in rep if r["doctor_id"] == top).get("points", 0) >= 50 * by[top]
    for dept in {r["department"] for r in rep}:
        rows = [r for r in rep if r["department"] == dept]
        assert rows[0]["rank"] == 1 and rows[0]["points"] == max(r["points"] for r in rows)


def test_referral_on_the_simulated_warehouse(run_cli, hospital):
    h = hospital
    as_of = h["end"].isoformat()
    out = cli(run_cli, h, "referral", "attribute", "--from-warehouse", "--as-of", as_of)
    patients = read(h, "patients")
    referred = pc.sum(pc.is_valid(patients["referrer_id"])).as_py()
    assert f": {referred}" in out and referred > 0
    r = json.loads(cli(run_cli, h, "referral", "rewards", "--as-of", as_of, "--json"))
    assert r["cash_rewards"] % 2 == 0 and r["cash_cny"] == 50.0 * r["cash_rewards"]
    assert r["cash_rewards"] // 2 + r["waiting"] + r["lapsed"] == referred
    t = json.loads(cli(run_cli, h, "referral", "tree", "--json"))
    assert sum(g["users"] for g in t["generations"][1:]) == referred
    k = json.loads(cli(run_cli, h, "referral", "kfactor", "--as-of", as_of, "--json"))
    code, m, err = run_cli("metrics", "k_factor", "--as-of", as_of, "--json", "-w", h["w"])
    assert code == 0, err
    assert k["k_factor"] == pytest.approx(json.loads(m)["value"])
    gens = {g["group"]: g for g in k["groups"]}
    assert sum(g["converted"] for g in gens.values()) == pytest.approx(json.loads(m)["numerator"])


@pytest.mark.parametrize(
    ("args", "word", "code"),
    [
        (("points", "redeem", "nobody", "--coupon", "consult_10"), "no points", 2),
        (
            ("points", "earn", "p1", "--rule", "checkup", "--source", "o:1", "--points", "-5"),
            "points",
            2,
        ),
        (("points", "balance", "x\x1b[31m"), "user id", 2),
        (("points", "earn", "p1", "--rule", "checkup"), "--source", 2),
        (("points", "doctors", "--from", "2025-02-01", "--to", "2025-01-01"), "--from", 2),
        (("points", "balance", "p1", "--at", "yesterday"), "--at", 2),
        (("referral", "attribute", "u1", "--code", "ZZZZZZZZZZ"), "--code", 2),
        (("referral", "code", "u1", "--channel", "tv"), "--channel", 2),
        (("referral", "kfactor", "--by", "nonsense", "--as-of", "2025-03-01"), "nonsense", 2),
    ],
)
def test_bad_input_at_the_cli_is_a_clear_error(run_cli, hospital, args, word, code):
    got, _, err = run_cli(*args, "-w", hospital["w"], "--state", hospital["state"])
    assert got == code and word in err, err
