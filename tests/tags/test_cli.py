"""The command line: each command on a small warehouse file, and clean errors."""

import json
import subprocess
import sys
from datetime import date

import pytest
from typer.testing import CliRunner

from careops.cli import app
from careops.errors import CareOpsError
from tests.tags.hospital import Hospital

AS_OF = date(2026, 6, 1)
runner = CliRunner()


@pytest.fixture(scope="module")
def url(tmp_path_factory):
    from careops.warehouse import connect, create_tables

    path = tmp_path_factory.mktemp("cli") / "w.duckdb"
    con = connect(f"duckdb:///{path}")
    create_tables(con)
    h = Hospital(AS_OF)
    h.patient("p45", birth=date(1981, 1, 1), sex="M").condition("p45", "I10")
    h.reading("p45", 40, "8480-6", 150).event("p45", 20, "search", query="高血压")
    for i in range(12):
        h.patient(f"u{i:02d}", birth=date(1950 + 5 * i, 1, 1), sex="MF"[i % 2])
        for d in range(1, 1 + (i % 4) * 3):
            h.event(f"u{i:02d}", d)
        if i % 3 == 0:
            h.order(f"u{i:02d}", 2, 100.0 * i).order(f"u{i:02d}", 5, 50.0).consult(f"u{i:02d}", 3)
    h.load(con)
    con.disconnect()
    return f"duckdb:///{path}"


def run(*args):
    result = runner.invoke(app, [*args])
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result


def test_tags_compute_show_and_layers(url):
    r = run("tags", "compute", "--as-of", "2026-06-01", "--warehouse", url)
    assert "13" in r.output
    r = run("tags", "show", "p45", "--as-of", "2026-06-01", "--warehouse", url, "--json")
    data = json.loads(r.output)
    assert data["summary"] == "45 岁男性, 39 天未测血压, 高血压史, 低频用户, 流失预警"
    assert data["tags"]["age"] == 45
    r = run("tags", "show", "p45", "--as-of", "2026-06-01", "--warehouse", url, "--lang", "en")
    assert (
        "45, male, 39 days without a BP reading, hypertension history, Occasional, at risk of churn"
    ) in " ".join(r.output.split())
    r = run("layers", "--as-of", "2026-06-01", "--warehouse", url, "--json")
    rows = json.loads(r.output)
    lifecycle = [x for x in rows if x["dimension"] == "lifecycle"]
    assert sum(x["users"] for x in lifecycle) == 13
    assert sum(x["share"] for x in lifecycle) == pytest.approx(1.0)
    r = run(
        "layers",
        "migrate",
        "--from",
        "2026-06-01",
        "--to",
        "2026-07-01",
        "--warehouse",
        url,
        "--json",
    )
    assert sum(x["users"] for x in json.loads(r.output)) == 13


def test_segment_commands(url, tmp_path):
    where = 'sex == "M" and age >= 40'
    r = run(
        "segment", "count", "--where", where, "--as-of", "2026-06-01", "--warehouse", url, "--json"
    )
    assert json.loads(r.output)["count"] == 5  # p45, u00 (76), u02 (66), u04 (56), u06 (46)
    r = run(
        "segment",
        "sample",
        "--where",
        where,
        "--as-of",
        "2026-06-01",
        "--warehouse",
        url,
        "--limit",
        "2",
        "--json",
    )
    assert [x["user_id"] for x in json.loads(r.output)] == ["p45", "u00"]
    rule = tmp_path / "rule.yaml"
    rule.write_text(
        "and:\n  - {tag: sex, op: '==', value: M}\n  - {tag: age, op: '>=', value: 40}\n",
        encoding="utf-8",
    )
    out = tmp_path / "m.csv"
    r = run(
        "segment",
        "export",
        "--where",
        f"@{rule}",
        "--as-of",
        "2026-06-01",
        "--out",
        str(out),
        "--warehouse",
        url,
    )
    assert out.read_text().count("\n") == 6  # header + 5
    r = run(
        "segment", "count", "--where", 'did("share")', "--as-of", "2026-06-01", "--warehouse", url
    )
    assert "no patient matches" in r.output
    run("segment", "save", "men40", "--where", where, "--warehouse", url)
    r = run("segment", "refresh", "men40", "--as-of", "2026-06-01", "--warehouse", url)
    assert "5" in r.output
    r = run("segment", "history", "men40", "--warehouse", url, "--json")
    assert json.loads(r.output)[0]["members"] == 5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["segment", "count", "--where", "agee > 3", "--as-of", "2026-06-01"],
            "did you mean 'age'",
        ),
        (["tags", "show", "nobody", "--as-of", "2026-06-01"], "no patient 'nobody'"),
        (["layers", "--as-of", "2031-01-01"], "in the future"),
        (["layers", "--as-of", "01/06/2026"], "not a date"),
    ],
)
def test_errors_are_careops_errors(url, args, message):
    result = runner.invoke(app, [*args, "--warehouse", url])
    assert isinstance(result.exception, CareOpsError)
    assert message in str(result.exception)


def test_main_prints_the_error_without_a_traceback(url):
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "from careops.cli import main; main()",
            "segment",
            "count",
            "--where",
            "(sex == 'F'",
            "--as-of",
            "2026-06-01",
            "--warehouse",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 2
    assert "unbalanced '('" in proc.stderr
    assert "Traceback" not in proc.stderr


def _lifecycle_users(url) -> dict[str, int]:
    r = run("layers", "--as-of", "2026-06-01", "--warehouse", url, "--json")
    return {x["code"]: x["users"] for x in json.loads(r.output) if x["dimension"] == "lifecycle"}


def test_changed_thresholds_are_not_hidden_by_a_stored_snapshot(url, monkeypatch):
    from careops.config import get_settings

    run("tags", "compute", "--as-of", "2026-06-01", "--warehouse", url)
    before = _lifecycle_users(url)
    assert before["active"] > 0
    n_active = 'lifecycle == "active"'
    count = [
        "segment",
        "count",
        "--where",
        n_active,
        "--as-of",
        "2026-06-01",
        "--warehouse",
        url,
        "--json",
    ]
    assert json.loads(run(*count).output)["count"] == before["active"]
    monkeypatch.setenv("CAREOPS_LIFECYCLE__ACTIVE_MIN_DAYS", "10")
    get_settings.cache_clear()
    after = _lifecycle_users(url)
    assert after["active"] == 0
    assert after["occasional"] == before["occasional"] + before["active"]
    assert json.loads(run(*count).output)["count"] == 0
    r = run("layers", "--as-of", "2026-06-01", "--warehouse", url)
    assert "careops tags compute --as-of 2026-06-01" in " ".join(r.output.split())  # the shell
    r = runner.invoke(app, ["layers", "history", "--warehouse", url])
    assert "recompute the tags of 2026-06-01 (careops tags compute)" in str(r.exception)
    assert r.exception.field == "as_of"  # the CLI adds "(--as-of)" when it prints


def test_layers_read_in_chinese_in_declared_order(url):
    run("tags", "compute", "--as-of", "2026-06-01", "--warehouse", url)
    text = run("layers", "--as-of", "2026-06-01", "--warehouse", url).output
    for word in ("维度", "分层", "用户数", "占比", "生命周期", "子群/特殊人群", "高频问诊"):
        assert word in text
    for word in ("dimension", "users", "groups", "frequent_consulter", "提示"):
        assert word not in text
    lifecycle = [text.index(w) for w in ("新用户", "活跃用户", "低频用户", "沉默用户", "流失用户")]
    assert lifecycle == sorted(lifecycle)
    text = run("layers", "--as-of", "2026-06-01", "--warehouse", url, "--lang", "en").output
    assert "dimension" in text and "Lifecycle" in text and "Occasional" in text
    text = run(
        "layers", "migrate", "--from", "2026-06-01", "--to", "2026-07-01", "--warehouse", url
    ).output
    assert "合计" in text and "None" not in text and "occasional" not in text
    moved = [text.index(w) for w in ("新用户", "活跃用户", "低频用户", "沉默用户", "流失用户")]
    assert moved == sorted(moved)


def test_layers_history_is_limited_and_says_what_it_left_out(url):
    run("tags", "compute", "--as-of", "2026-06-01", "--warehouse", url)
    text = run("layers", "history", "--warehouse", url, "--limit", "3").output
    assert "共 13 行, 另有 10 行未显示" in text
    assert "— " in text and "None" not in text
    data = json.loads(
        run("layers", "history", "--warehouse", url, "--user", "p45", "--json").output
    )
    assert (data["total"], data["omitted"]) == (1, 0)
    assert data["rows"][0]["to"] == "occasional"
    text = run("layers", "history", "--warehouse", url, "--user", "p45").output
    assert "低频用户" in text and "另有" not in text


def test_segment_warns_about_a_department_the_warehouse_never_has(url):
    r = run(
        "segment",
        "count",
        "--where",
        'consulted(department="全科门诊")',
        "--as-of",
        "2026-06-01",
        "--warehouse",
        url,
    )
    text = " ".join(r.output.split())
    assert "consulted(department='全科门诊'): 仓库中没有这个值" in text
    assert "最接近的: 全科" in text
    counts = []
    for where in (
        '生命周期 != "新用户" and bought(category="药品")',
        'lifecycle != "new" and bought(category="drug")',
    ):
        r = run(
            "segment",
            "count",
            "--where",
            where,
            "--as-of",
            "2026-06-01",
            "--warehouse",
            url,
            "--json",
        )
        assert "提示" not in r.output
        counts.append(json.loads(r.stdout)["count"])
    assert counts[0] == counts[1] > 0


def test_cluster_shows_the_over_represented_layers(url):
    text = run(
        "cluster", "--as-of", "2026-06-01", "--warehouse", url, "--k-min", "2", "--k-max", "3"
    ).output
    for word in ("名称", "用户数", "偏多的分层", "×"):
        assert word in text
