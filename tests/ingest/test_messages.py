"""What `careops ingest` tells a person: Chinese by default, the next step that fits the cause,
the simulator's own answers recognised."""

from __future__ import annotations

import json
import re

import pytest

from careops.i18n import translate
from tests.ingest.conftest import write

ORDERS = "order_id,user_id,ts,category,amount_cny,status\n"


def _bad_folder(root):
    write(
        root / "orders_missing_status.csv",
        "order_id,user_id,ts,category,amount_cny\no1,u1,2025-01-05,drug,12\n",
    )
    write(root / "patients_cn.csv", "患者ID,性别\nP1,男\n")
    write(
        root / "orders.csv",
        ORDERS + "o2,u1,2025-01-05,drug,-1,paid\no3,u1,x,drug,1,paid\n"
        "o4,u1,2025-01-05,drug,3,paid\n",
    )
    write(root / "patients.csv", "user_id,registered_at\n张三,2024-01-02\n", encoding="gbk")
    write(root / "notes.bin", "x")
    return root


def _english_left(text: str) -> list[str]:
    """Runs of two or more English words, commands, options and paths aside."""
    text = re.sub(
        r"careops [a-z]+( [a-z]+)?|--[a-z-]+( [\w.-]+)?|\S+\.(csv|yaml|bin)|`[^`]*`", " ", text
    )
    return re.findall(r"\b[A-Za-z]{2,}(?: [A-Za-z]{2,})+\b", text)


def test_ingest_messages_are_chinese_by_default(tmp_path, run_cli):
    folder = _bad_folder(tmp_path / "in")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("ingest", folder, "-w", url, "--encoding", "utf-8")
    assert code == 2
    flat = re.sub(r"[│┃\s]+", " ", out)
    for english in ("records are bad", " of ", "not valid", "not CSV", "pass ", "found "):
        assert english not in flat
    assert "3 条记录中 2 条有误" in flat
    assert _english_left(flat) == ["JSON Lines"]  # a format's name
    code, out, _ = run_cli("quarantine", "list", "-w", url)
    assert _english_left(re.sub(r"[│┃]", "|", out)) == []


@pytest.mark.parametrize(
    "text",
    [
        "2 of 3 records are bad (66.7% > 5%); nothing of this file was loaded",
        "x.csv: not valid utf-8 text (invalid start byte at byte 3); pass the right --encoding, "
        "e.g. --encoding gbk",
        "unknown kind of file (not CSV, Parquet, JSON Lines or FHIR); pass --kind to load it",
        "orders: missing required column(s) status; found order_id, user_id. Rename the columns or "
        "use --mapping",
        "cannot tell which table this file holds from its name or columns (a, b); name the file "
        "after the table (orders.csv) or pass --kind",
        "x.csv: the file is empty (no header, no rows)",
    ],
)
def test_each_ingestion_message_has_its_chinese(text):
    assert _english_left(translate(text, "zh")) in ([], ["JSON Lines"])


def test_missing_column_advises_a_mapping_not_the_quarantine(tmp_path, run_cli):
    folder = _bad_folder(tmp_path / "in")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli(
        "ingest", folder / "orders_missing_status.csv", folder / "patients_cn.csv", "-w", url
    )
    flat = re.sub(r"\s+", " ", out)
    assert code == 1
    assert "quarantine" not in flat
    assert "缺少 orders 的必需列 status" in flat and "缺少 patients 的必需列 user_id" in flat
    assert flat.count("--mapping 映射.yaml") == 2
    code, out, _ = run_cli("ingest", folder / "orders_missing_status.csv", "-w", url, "--json")
    hint = json.loads(out)["files"][0]["hint"]
    assert hint["key"] == "hint_mapping" and hint["columns"] == "status"


def test_each_next_step_fits_its_cause(tmp_path, run_cli):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    write(
        tmp_path / "orders.csv",
        ORDERS
        + "o1,u1,2025-01-05,drug,-1,paid\n"
        + "".join(f"o{i},u1,2025-01-05,drug,3,paid\n" for i in range(2, 40)),
    )
    write(tmp_path / "bad" / "orders.csv", ORDERS + "o1,u1,2025-01-05,drug,-1,paid\n")
    code, out, _ = run_cli("ingest", tmp_path / "orders.csv", "-w", url, "--lang", "en")
    out = re.sub(r"\s+", " ", out)
    assert code == 0 and "has quarantined rows: careops quarantine export --load" in out
    code, out, _ = run_cli("ingest", tmp_path / "bad" / "orders.csv", "-w", url, "--lang", "en")
    out = re.sub(r"\s+", " ", out)
    assert code == 1 and "was not loaded: see the bad rows with careops quarantine list" in out
    write(tmp_path / "ok" / "orders.csv", ORDERS + "o50,u1,2025-01-05,drug,3,paid\n")
    code, out, _ = run_cli("ingest", tmp_path / "ok" / "orders.csv", "-w", url)
    assert code == 0 and "下一步" not in out


def test_simulator_answers_are_recognised_once(tmp_path, run_cli):
    sim = tmp_path / "sim"
    write(sim / "orders.csv", ORDERS + "o1,u1,2025-01-05,drug,3,paid\n")
    write(sim / "calibration.json", "[]")
    write(sim / "ground_truth" / "config.json", "{}")
    write(sim / "ground_truth" / "users.csv", "user_id,persona\nu1,x\n")
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    code, out, _ = run_cli("ingest", sim, "-w", url)
    flat = re.sub(r"\s+", " ", out)
    assert code == 0
    assert "--kind" not in flat and "│ 跳过 │" not in flat
    assert flat.count("模拟器的答案") == 1 and "ground_truth/, calibration.json" in flat
    code, out, _ = run_cli("ingest", sim, "-w", url, "--json")
    report = json.loads(out)
    assert report["skipped"][0]["reason"].startswith("same content already loaded")
    assert len(report["skipped"]) == 1 and "not hospital data" in report["notes"][0]
