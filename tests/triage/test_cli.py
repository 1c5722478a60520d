"""`careops triage`: one text, a JSON Lines batch from stdin, the catalogue file, bad input,
and subcommands beside the free-text argument."""

from __future__ import annotations

import io
import json
import sys

import typer
from typer.testing import CliRunner

from careops.triage.cli import _TextFirstGroup


def test_one_text_printed_and_as_json(run_cli):
    code, out, _ = run_cli("triage", "头痛、发热，三天了")
    assert code == 0 and "神经内科" in out and "感染科" in out and "头痛" in out
    code, out, _ = run_cli("triage", "头痛、发热，三天了", "--top", "2", "--json")
    data = json.loads(out)
    assert code == 0 and data["departments"][0]["name"] == "神经内科"
    assert len(data["departments"]) == 2 and data["emergency"] is None
    assert data["catalogue"] == "default" and data["departments"][0]["words"] == ["头痛"]


def test_emergency_first_and_exit_code_one(run_cli):
    code, out, _ = run_cli("triage", "胸口痛得厉害，出了一身冷汗")
    assert code == 1
    assert out.index("请立即拨打120或前往急诊") < out.index("心血管内科")
    assert "chest_pain_cardiac" in out


def test_ask_subcommand_and_dash(run_cli, monkeypatch):
    code, out, _ = run_cli("triage", "ask", "胃痛反酸", "--json")
    assert code == 0 and json.loads(out)["departments"][0]["name"] == "消化内科"
    monkeypatch.setattr(sys, "stdin", io.StringIO('{"id": 7, "text": "胃痛"}\n'))
    code, out, _ = run_cli("triage", "-")
    assert code == 0 and json.loads(out)["id"] == 7


def test_batch_answers_every_line_in_order_and_numbers_the_bad_ones(run_cli, monkeypatch):
    lines = [
        '{"id": "a", "text": "咳嗽有黄痰"}',
        "这不是JSON",
        "",
        '{"id": "c", "text": ""}',
        '["text"]',
        '{"id": "e", "text": "' + "头" * 10_001 + '"}',
        '{"id": 6, "text": "孩子发烧38.5度"}',
        '{"id": "g", "text": "I feel sick"}',
    ]
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join(lines) + "\n"))
    code, out, err = run_cli("triage", "--top", "2")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 1 and "4" in err
    assert [r.get("id") for r in rows] == ["a", None, "c", None, "e", 6, "g"]
    assert [r.get("line") for r in rows] == [None, 2, 4, 5, 6, None, None]
    assert rows[0]["departments"][0] == {
        "name": "呼吸内科",
        "score": rows[0]["departments"][0]["score"],
    }
    assert set(rows[0]) >= {"id", "departments", "doctors", "emergency"}
    assert rows[5]["departments"][0]["name"] == "儿科" and rows[5]["paediatric"] is True
    assert rows[6]["recognised"] is False
    assert "JSON" in rows[1]["error"] and "10000" in rows[4]["error"]


def test_batch_all_good_exits_zero(run_cli, monkeypatch):
    monkeypatch.setattr(
        sys, "stdin", io.StringIO('{"id":1,"text":"牙疼"}\n{"id":2,"text":"眼睛红"}\n')
    )
    code, out, _ = run_cli("triage")
    assert code == 0 and [json.loads(x)["departments"][0]["name"] for x in out.splitlines()] == [
        "口腔科",
        "眼科",
    ]


def test_departments_file_and_its_errors(run_cli, tmp_path):
    f = tmp_path / "d.txt"
    f.write_text("心内科\n消化科\t胃肠病\n", encoding="utf-8")
    code, out, _ = run_cli("triage", "胃痛", "--departments", str(f), "--json")
    assert code == 0 and json.loads(out)["departments"][0]["name"] == "消化科"
    f.write_text("", encoding="utf-8")
    code, _, err = run_cli("triage", "胃痛", "--departments", str(f))
    assert code == 2 and "为空" in err
    code, _, err = run_cli("triage", "胃痛", "--top", "0")
    assert code == 2 and "top" in err
    code, _, err = run_cli("triage", "   ")
    assert code == 2 and "为空" in err


def test_non_chinese_text_says_so(run_cli):
    code, out, _ = run_cli("triage", "my stomach hurts")
    assert code == 0 and "未识别到症状词" in out


def test_subcommands_live_beside_the_free_text():
    """`train` / `evaluate` plug in through `register`; a group of the same class routes a
    subcommand's name to it and anything else to `ask`."""
    app = typer.Typer(cls=_TextFirstGroup, invoke_without_command=True)
    seen = []

    @app.callback()
    def _cb(ctx: typer.Context) -> None:
        if ctx.invoked_subcommand is None:
            seen.append("batch")

    @app.command("ask")
    def ask(text: str = typer.Argument(None)) -> None:
        seen.append(("ask", text))

    @app.command("train")
    def train(as_of: str = typer.Option(None, "--as-of")) -> None:
        seen.append(("train", as_of))

    runner = CliRunner()
    assert runner.invoke(app, ["train", "--as-of", "2025-01-01"]).exit_code == 0
    assert runner.invoke(app, ["头痛发热"]).exit_code == 0
    assert runner.invoke(app, ["ask", "胃痛"]).exit_code == 0
    assert seen == [("train", "2025-01-01"), ("ask", "头痛发热"), ("ask", "胃痛")]
