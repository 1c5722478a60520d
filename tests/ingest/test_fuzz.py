"""Issue 11's done-when: generated hostile values thrown at every file door (CSV, Parquet, JSON
Lines, FHIR JSON and NDJSON) through the CLI. Whatever comes in: no traceback, an exit code of
0/1/2 with a report, good rows loaded, bad rows quarantined with record and reason, and a file
either loaded whole (less its quarantined rows) or not at all.

A seeded generator (not hypothesis: one warehouse per example would cost seconds each) mixes
Rich markup, ANSI and control characters, NUL bytes, bidi overrides, deep nesting, mixed
encodings, MB-sized fields, wide and long lines, duplicate headers, BOMs in the middle,
1e309 / NaN / -0 and 0000-00-00 / 9999-12-31 into otherwise valid rows.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from careops.warehouse import connect

SEED = 20261201
HOSTILE = [
    "[/bold]",
    "[link=https://evil.example]点我[/link]",
    "[red]x",
    "\x1b[31mred\x1b[0m",
    "\x1b]8;;http://x\x07t\x1b]8;;\x07",
    "a\x00b",
    "\u202eevil\u202c",
    "\u200f\u2066x",
    "\r",
    "\t\t",
    "\x7f\x85",
    "\ufeffu1",
    "0000-00-00",
    "9999-12-31",
    "2025-02-30",
    "1e309",
    "-1e309",
    "NaN",
    "-0",
    "inf",
    "",
    " ",
    '"',
    "'; drop table x;--",
    "😀" * 50,
    "𠀀𪚥",
    "\ue000",
    "\ufffd",
    "é" * 10,
    "x" * 100_000,
    "{" * 5000,
    "[" * 3000 + "]" * 3000,
]
ORDER_COLS = ["order_id", "user_id", "ts", "category", "sku", "amount_cny", "status"]
PATIENT_COLS = ["user_id", "registered_at", "birth_date", "sex", "region", "city"]


def good_order(i: int) -> dict[str, str]:
    return {
        "order_id": f"o{i}",
        "user_id": f"u{i % 7}",
        "ts": "2025-01-05 08:00:00",
        "category": "drug",
        "sku": f"S{i}",
        "amount_cny": str(10 + i),
        "status": "paid",
    }


def hostile_rows(rng: random.Random, n: int) -> list[dict[str, str]]:
    rows = []
    for i in range(n):
        row = good_order(i)
        if rng.random() < 0.5:
            row[rng.choice(ORDER_COLS)] = rng.choice(HOSTILE)
        rows.append(row)
    return rows


def csv_text(rows: list[dict[str, str]], cols: list[str]) -> str:
    def cell(v: str) -> str:
        return '"' + v.replace('"', '""') + '"' if any(c in v for c in ',"\n\r') else v

    return ",".join(cols) + "\n" + "".join(",".join(cell(r[c]) for c in cols) + "\n" for r in rows)


def make_inputs(root: Path, rng: random.Random) -> dict[str, Path]:
    """One folder per door, each with hostile files."""
    doors = {name: root / name for name in ("csv", "parquet", "jsonl", "fhir_ndjson", "fhir_json")}
    for d in doors.values():
        d.mkdir(parents=True)
    rows = hostile_rows(rng, 300)
    # CSV: hostile cells; a mixed-encoding file; a mid-file BOM; wide; long; duplicate header
    (doors["csv"] / "orders.csv").write_text(
        csv_text(rows, ORDER_COLS), encoding="utf-8", errors="surrogatepass"
    )
    mixed = csv_text([good_order(i) | {"sku": f"药品{i}"} for i in range(100)], ORDER_COLS)
    lines = mixed.encode("utf-8").splitlines(keepends=True)
    lines[7] = lines[7].decode("utf-8").encode("gbk")
    lines[9] = b"\xef\xbb\xbf" + lines[9]
    lines[11] = lines[11][:20] + b"\xff\xfe\x80" + lines[11][20:]
    (doors["csv"] / "orders_mixed.csv").write_bytes(b"".join(lines))
    wide_cols = ORDER_COLS + [f"c{i}" for i in range(1000)]
    wide = [
        good_order(1000 + i) | {f"c{j}": rng.choice(HOSTILE[:12]) for j in range(1000)}
        for i in range(5)
    ]
    (doors["csv"] / "orders_wide.csv").write_text(csv_text(wide, wide_cols))
    (doors["csv"] / "orders_dupe.csv").write_text("order_id,order_id,user_id\n1,2,u\n")
    (doors["csv"] / "orders_long.csv").write_text(
        csv_text([good_order(2000) | {"sku": "L" * 2_000_000}, good_order(2001)], ORDER_COLS)
    )
    (doors["csv"] / "patients.csv").write_text(
        csv_text(
            [
                {
                    "user_id": f"p{i}",
                    "registered_at": rng.choice(["2024-01-01", *HOSTILE]),
                    "birth_date": rng.choice(
                        ["1980-01-01", "0000-00-00", "9999-12-31", "-0", "NaN"]
                    ),
                    "sex": rng.choice(["M", "F", "[/bold]", "\x00"]),
                    "region": rng.choice(HOSTILE),
                    "city": "x",
                }
                for i in range(100)
            ],
            PATIENT_COLS,
        )
    )
    # Parquet: the same hostile strings typed as text, and non-finite floats
    table = pa.table(
        {c: [r[c] for r in rows] for c in ORDER_COLS if c != "amount_cny"}
        | {"amount_cny": [rng.choice([1.0, float("nan"), float("inf"), -0.0, 1e308]) for _ in rows]}
    )
    pq.write_table(table, doors["parquet"] / "orders.parquet")
    # JSON Lines: hostile values, raw JSON numbers, deep nesting, a wide record
    out = []
    for r in rows:
        rec: dict = dict(r)
        pick = rng.random()
        if pick < 0.1:
            out.append(json.dumps(rec, ensure_ascii=False)[:-1] + ',"amount_cny":1e309}')
            continue
        if pick < 0.15:
            out.append(
                json.dumps(rec)[:-1] + ',"extra":' + '{"a":[' * 2000 + "1" + "]}" * 2000 + "}"
            )
            continue
        if pick < 0.2:
            rec["amount_cny"] = float("nan")
        out.append(json.dumps(rec, ensure_ascii=rng.random() < 0.5))
    out.append("not json at all \x00")
    out.append("[1, 2, 3]")
    (doors["jsonl"] / "orders.jsonl").write_text("\n".join(out) + "\n", errors="surrogatepass")
    # FHIR NDJSON and a Bundle with hostile ids, values and nesting
    patients, observations = [], []
    for i in range(60):
        pid = rng.choice([f"p{i}", f"p{i}{rng.choice(HOSTILE[:10])}"])
        patients.append(
            {
                "resourceType": "Patient",
                "id": pid,
                "gender": rng.choice(["male", "female", "[/bold]"]),
                "birthDate": rng.choice(["1970-01-01", "0000-00-00", "9999-12-31"]),
                "meta": {"lastUpdated": "2024-01-01T00:00:00Z"},
            }
        )
        observations.append(
            {
                "resourceType": "Observation",
                "id": f"ob{i}",
                "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "subject": {"reference": f"Patient/{pid}"},
                "effectiveDateTime": "2024-06-01T08:00:00Z",
                "valueQuantity": {"value": rng.choice([120, 1e308, -0.0, 130.5]), "unit": "mm[Hg]"},
            }
        )
    ndjson = [json.dumps(p, ensure_ascii=False) for p in patients]
    ndjson.append('{"resourceType":"Patient","id":"deep","x":' + "[" * 4000 + "]" * 4000 + "}")
    obs = [json.dumps(o) for o in observations]
    obs[3] = obs[3].replace('"value": 1', '"value": NaN', 1)
    obs[5] = obs[5].replace('"value": 1', '"value": 1e309', 1)
    (doors["fhir_ndjson"] / "Patient.ndjson").write_text("\n".join(ndjson) + "\n")
    (doors["fhir_ndjson"] / "Observation.ndjson").write_text("\n".join(obs) + "\n")
    entries = [
        {"fullUrl": f"urn:uuid:{i}", "resource": r} for i, r in enumerate(patients + observations)
    ]
    text = json.dumps(
        {"resourceType": "Bundle", "type": "collection", "entry": entries}, ensure_ascii=False
    )
    text = text.replace(
        '"entry": [',
        '"entry": [{"resource":{"resourceType":"Patient","id":'
        '"d","x":' + "[" * 9000 + "]" * 9000 + "}}, ",
        1,
    )
    (doors["fhir_json"] / "bundle.json").write_text(text)
    return doors


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    return make_inputs(tmp_path_factory.mktemp("fuzz"), random.Random(SEED))


@pytest.mark.parametrize("door", ["csv", "parquet", "jsonl", "fhir_ndjson", "fhir_json"])
def test_hostile_values_at_every_door(inputs, door, tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    code, out, err = run_cli("ingest", inputs[door], "--warehouse", url, "--json")
    assert "Traceback" not in out + err
    assert code in (0, 1, 2), err
    report = json.loads(out)
    assert report["exit_code"] == code and report["files"]
    con = connect(url)
    loads = con.table("_loads").to_pyarrow().to_pylist()
    quarantine = con.table("quarantine").to_pyarrow().to_pylist()
    for q in quarantine:
        assert q["record"] and q["reason"] and q["raw"] is not None
        assert len(q["raw"]) < 5000
    loaded_by_table: dict[str, int] = {}
    for f in report["files"]:
        assert f["status"] in ("loaded", "rejected", "unreadable", "skipped"), f
        if f["status"] in ("unreadable", "skipped"):
            assert f["message"]
            continue
        mine = [r for r in loads if r["load_id"] == f["load_id"]]
        assert mine and {r["status"] for r in mine} == {f["status"]}
        for r in mine:
            if f["status"] == "rejected":
                assert r["loaded"] == 0  # nothing half-applied
            else:
                loaded_by_table[r["table_name"]] = (
                    loaded_by_table.get(r["table_name"], 0) + r["loaded"]
                )
    for table, n in loaded_by_table.items():
        assert con.table(table).count().execute() == n
    if door == "csv":
        names = {Path(f["source"]).name: f for f in report["files"]}
        assert names["orders_dupe.csv"]["status"] == "unreadable"
        assert "repeats column" in names["orders_dupe.csv"]["message"]
        assert names["orders_mixed.csv"]["status"] == "loaded"
        assert names["orders_mixed.csv"]["tables"]["orders"]["quarantined"] == 3
    if door in ("jsonl", "fhir_ndjson", "fhir_json"):
        assert any("max_depth" in q["reason"] for q in quarantine)
    amounts = [r for t in ("orders", "observations") for r in con.table(t).to_pyarrow().to_pylist()]
    for r in amounts:  # no non-finite number loaded
        for key in ("amount_cny", "value"):
            v = r.get(key)
            assert v is None or abs(v) < float("inf")
