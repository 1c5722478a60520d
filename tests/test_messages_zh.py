"""Errors at a sample of doors read in Chinese first ("中文 / English") and, in the CLI, name the
flag to change: the domain names the field (`as_of`), the shell adds the flag (`--as-of`)."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from careops.cliutil import FLAGS, error_text, with_flag
from careops.errors import InvalidInput
from careops.warehouse import warehouse
from tests.tags.hospital import Hospital

CJK = re.compile(r"[\u4e00-\u9fff]")
TODAY = dt.datetime.now(dt.UTC).date()
DAY = ("--as-of", TODAY.isoformat())


@pytest.fixture
def wh(run_cli, tmp_path):
    """A warehouse with one patient registered 400 days ago (so that rules, not an empty
    warehouse, are what a door refuses)."""
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    state = f"sqlite:///{tmp_path / 'state.db'}"
    code, _, err = run_cli("init", "-w", url, "--state", state)
    assert code == 0, err
    with warehouse(url) as con:
        Hospital(TODAY).patient("u1").load(con)
    return url, state


def _message(err: str) -> str:
    assert "Traceback" not in err
    return err.split("错误 / error:", 1)[1].strip()


@pytest.mark.parametrize(
    ("args", "zh", "flag"),
    [
        (["segment", "count", "--where", "lifecycle = 'new'", *DAY], "比较请用 '=='", None),
        (["segment", "count", "--where", "lifecycle == 'nope'", *DAY], "不是标签", None),
        (
            ["segment", "sample", "--where", "lifecycle == 'new'", "--limit", "0", *DAY],
            "条数上限",
            "--limit",
        ),
        (["metrics", "funnel", "--steps", "register", *DAY], "漏斗至少需要两个步骤", None),
        (["metrics", "d7_retention", "--as-of", "2026-13-01"], "不是日期", "--as-of"),
        (["metrics", "d7_retention", "--as-of", "2000-01-01"], "早于所有数据", "--as-of"),
        (["layers", "migrate", "--from", DAY[1], "--to", DAY[1]], "必须晚于", "--from / --to"),
        (["experiment", "analyze", "-e", "nope"], "没有实验", None),
        (["tags", "show", "nobody", *DAY], "没有患者", None),
    ],
)
def test_a_door_answers_in_chinese_first(run_cli, wh, args, zh, flag):
    url, state = wh
    extra = ["--state", state] if args[0] in ("segment", "experiment") else []
    code, _, err = run_cli(*args, "-w", url, *extra)
    assert code != 0
    message = _message(err)
    assert CJK.search(message.split(" / ", 1)[0]), message
    assert zh in message, message
    if flag:
        assert message.rstrip().endswith(f"({flag})"), message


def test_ingest_names_the_encoding_flag(run_cli, wh, tmp_path):
    url, _ = wh
    (tmp_path / "patients.csv").write_text("user_id,registered_at\nu1,2025-01-01\n")
    code, out, err = run_cli("ingest", tmp_path / "patients.csv", "--encoding", "nope", "-w", url)
    assert code != 0 and "Traceback" not in err
    assert "未知编码 'nope'" in out and "(--encoding)" in out  # the file's line of the table


def test_the_shell_adds_the_flag_once():
    assert error_text(InvalidInput("统计日有误 / bad as-of", field="as_of")).endswith("(--as-of)")
    assert with_flag("use --as-of 2026-01-01", "as_of") == "use --as-of 2026-01-01"
    assert with_flag("x", None) == "x" and with_flag("x", "no_such_field") == "x"
    assert all(flag.startswith("--") for flag in FLAGS.values())
