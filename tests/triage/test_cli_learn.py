"""`careops triage train|evaluate` through a throwaway Typer app carrying `register`: the
majority figures of a shipped set, training on a warehouse then evaluating the registered
model, and bad input answered with a message and exit code (line numbers named)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from careops.cliutil import error_text
from careops.errors import CareOpsError
from careops.triage.cli_learn import register
from careops.warehouse import connect, create_tables
from tests.conftest import fill
from tests.triage.test_supervised import TOY, consultations, history

EVAL = Path(__file__).parents[2] / "src" / "careops" / "triage" / "data" / "eval"


def run(*args: str) -> tuple[int, str, str]:
    """Invoke the app as `careops.cli.main` does: a CareOps error → its message, its code."""
    app = typer.Typer()
    register(app)
    result = CliRunner().invoke(app, [str(a) for a in args])
    if isinstance(result.exception, CareOpsError):
        return result.exception.exit_code, result.stdout, error_text(result.exception)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_majority_on_the_shipped_internal_medicine_set():
    code, out, _ = run(
        "evaluate",
        EVAL / "internal_medicine.jsonl",
        "--departments",
        EVAL / "internal_medicine_departments.txt",
        "--ranker",
        "majority",
        "--json",
    )
    assert code == 0
    data = json.loads(out)
    assert data["n"] == 312 and len(data["departments"]) == 9
    assert data["top1"] == data["majority_share"] == round(66 / 312, 4)
    assert data["confusion"]["血液科"] == {"消化内科": 17}
    code, out, _ = run("evaluate", EVAL / "general.jsonl", "--ranker", "majority")
    assert code == 0 and "top-1 7.4%" in out and "各科室" in out


@pytest.fixture
def trained(tmp_path, monkeypatch):
    url = f"duckdb:///{tmp_path / 'wh.duckdb'}"
    con = connect(url)
    create_tables(con)
    fill(con, {"consultations": consultations(history())})
    con.disconnect()
    code, out, err = run("train", "--as-of", "2025-05-01", "--json", "--warehouse", url)
    assert code == 0, err
    return url, json.loads(out), tmp_path


def test_train_then_evaluate_the_registered_model(trained):
    url, meta, tmp = trained
    assert meta["kind"] == "triage" and meta["evaluation"]["departments"] == sorted(TOY)
    rows = [
        {"text": "最近胃疼反酸", "department": "消化内科"},
        {"text": "咳嗽有黄痰", "department": "呼吸内科"},
        {"text": "血压高 头晕", "department": "心血管内科"},
        {"text": "脸上长痘", "department": "皮肤科"},
    ]
    f = tmp / "set.jsonl"
    f.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), "utf-8")
    cat = tmp / "cat.txt"
    cat.write_text("消化内科\t胃肠\n呼吸内科\n心血管内科\n皮肤科\n", "utf-8")
    args = ("evaluate", f, "--departments", cat, "--as-of", "2025-06-01", "--warehouse", url)
    code, out, err = run(*args, "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["ranker"] == "supervised" and data["n"] == 4
    # the three departments it learnt are first; 皮肤科 was never seen: scored 0, last
    assert data["per_department"]["皮肤科"]["recall"] == 0.0
    assert data["top1"] == 0.75
    assert any("皮肤科" in n for n in data["notes"])
    code, out, _ = run(*args)
    assert code == 0 and "supervised" in out and "皮肤科" in out
    code, _, err = run("evaluate", f, "--as-of", "2025-04-01", "--warehouse", url)
    assert code == 2 and "没有截至" in err


def test_train_table_output_and_empty_warehouse(tmp_path, trained):
    url, _, _ = trained
    code, out, _ = run("train", "--as-of", "2025-05-01", "--warehouse", url)
    assert code == 0 and "已登记分诊模型" in out and "时间切分" in out
    empty = f"duckdb:///{tmp_path / 'empty.duckdb'}"
    con = connect(empty)
    create_tables(con)
    con.disconnect()
    code, _, err = run("train", "--as-of", "2025-05-01", "--warehouse", empty)
    assert code == 2 and "没有带主诉和科室" in err and "--as-of" in err


def test_invalid_json_line_is_named_and_the_others_evaluated(tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_text(
        '{"text": "胃疼", "department": "消化内科"}\n'
        '{"text": "咳嗽", "department": \n'
        '{"text": "咳嗽", "department": "呼吸内科"}\n'
        '{"text": "牙疼", "department": "口腔科"}\n',
        "utf-8",
    )
    cat = tmp_path / "cat.txt"
    cat.write_text("消化内科\n呼吸内科\n", "utf-8")
    code, out, err = run("evaluate", f, "--departments", cat, "--ranker", "majority", "--json")
    assert code == 0
    data = json.loads(out)
    assert data["n"] == 2
    assert [p["line"] for p in data["problems"]] == [2, 4]
    assert "第 2 行" in err and "第 4 行" in err and "口腔科" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", "评估集为空"),
        ("\n\n", "评估集为空"),
        ("not json\n", "没有可用的行"),
        ('{"text": "咳嗽", "department": "外星科"}\n', "不在目录"),
    ],
)
def test_bad_files_exit_2_with_a_message(tmp_path, content, message):
    f = tmp_path / "set.jsonl"
    f.write_text(content, "utf-8")
    cat = tmp_path / "cat.txt"
    cat.write_text("呼吸内科\n", "utf-8")
    code, _, err = run("evaluate", f, "--departments", cat, "--ranker", "majority")
    assert code == 2 and message in err


def test_bad_catalogue_ranker_and_paths(tmp_path):
    f = tmp_path / "set.jsonl"
    f.write_text('{"text": "咳嗽", "department": "呼吸内科"}\n', "utf-8")
    cat = tmp_path / "cat.txt"
    cat.write_text("", "utf-8")
    code, _, err = run("evaluate", f, "--departments", cat, "--ranker", "majority")
    assert code == 2 and "科室目录为空" in err and "--departments" in err
    code, _, err = run("evaluate", f, "--ranker", "oracle")
    assert code == 2 and "未知的排序器" in err and "--ranker" in err
    code, _, err = run("evaluate", tmp_path / "missing.jsonl", "--ranker", "majority")
    assert code == 2 and "找不到文件" in err
    code, _, err = run("evaluate", tmp_path, "--ranker", "majority")
    assert code == 2 and "目录" in err
    bad = tmp_path / "gbk.jsonl"
    bad.write_bytes('{"text": "咳嗽"}'.encode("gbk"))
    code, _, err = run("evaluate", bad, "--ranker", "majority")
    assert code == 2 and "UTF-8" in err


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.binary(max_size=300))
def test_fuzz_hostile_bytes_through_the_cli(tmp_path, blob):
    f = tmp_path / "fuzz.jsonl"
    f.write_bytes(blob)
    code, out, err = run("evaluate", f, "--ranker", "majority", "--json")
    assert code in (0, 2)
    if code == 0:
        assert json.loads(out)["n"] >= 1
    else:
        assert err


def test_cross_validation_through_the_cli(tmp_path):
    from careops.triage.evaluate import cross_validate, read_set

    lines = (EVAL / "internal_medicine.jsonl").read_text("utf-8").splitlines()[::3]
    f = tmp_path / "third.jsonl"
    f.write_text("\n".join(lines), "utf-8")
    code, out, err = run("evaluate", f, "--cv", "3", "--ranker", "supervised", "--json")
    assert code == 0, err
    data = json.loads(out)
    expected = cross_validate(read_set(f), folds=3)
    assert data["ranker"] == "supervised (cv3)" and data["throughput_qps"] is None
    assert (data["top1"], data["top3"], data["macro_recall"]) == (
        expected["top1"],
        expected["top3"],
        expected["macro_recall"],
    )
    code, _, err = run("evaluate", EVAL / "general.jsonl", "--cv", "3", "--ranker", "majority")
    assert code == 2 and "交叉验证只用于" in err
    code, _, err = run("evaluate", EVAL / "general.jsonl", "--cv", "1")
    assert code == 2 and "--cv" in err
