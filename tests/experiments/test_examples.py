"""The example files and commands of docs/experiments.md run as documented; known answer."""

import json
import re
import shlex
from pathlib import Path

import pytest
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "experiments.md"


def documented_commands() -> list[list[str]]:
    """The `careops experiment …` lines of the doc's "Try it on the example files" block."""
    section = DOC.read_text(encoding="utf-8").split("### Try it on the example files", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "docs/experiments.md lost its example block"
    return [
        shlex.split(line)[1:]
        for line in block.group(1).splitlines()
        if line.startswith("careops experiment ")
    ]


def test_documented_commands_run_on_the_example_files(run_cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    commands = documented_commands()
    assert [c[:2] for c in commands] == [
        ["experiment", "analyze"],
        ["experiment", "power"],
        ["experiment", "create"],
        ["experiment", "list"],
        ["experiment", "delete"],
    ]
    outputs = {}
    for args in commands:
        code, out, err = run_cli(*args)
        assert code == 0, f"careops {' '.join(args)}: {err}"
        outputs[args[1]] = out
    assert "coupon50" in outputs["analyze"] and "0.0313" in outputs["analyze"]
    assert "3,763" in outputs["power"]
    assert "recall-coupon-2026" in outputs["create"]
    assert "2026-01-05 00:00" in outputs["list"] and "Asia/Shanghai" in outputs["list"]


def test_results_csv_has_the_documented_known_answer(run_cli, monkeypatch):
    monkeypatch.chdir(ROOT)
    [analyze] = [c for c in documented_commands() if c[1] == "analyze"]
    code, out, err = run_cli(*analyze, "--json")
    assert code == 0, err
    coupon = json.loads(out)["variants"][1]
    assert (coupon["n"], coupon["mean"]) == (1000, pytest.approx(0.345))
    f = coupon["frequentist"]
    # reference: statsmodels on the counts (control 300/1000, coupon50 345/1000)
    z, p = proportions_ztest([345, 300], [1000, 1000])
    low, high = confint_proportions_2indep(345, 1000, 300, 1000, method="wald")
    assert f["absolute_lift"] == pytest.approx(0.045) and round(z, 3) == 2.153
    assert f["p_value"] == pytest.approx(p, rel=1e-6) and round(p, 4) == 0.0313
    assert f["absolute_ci"] == pytest.approx([low, high], rel=1e-6)
    assert f["relative_lift"] == pytest.approx(0.15)


def test_recall_yaml_reads_dates_as_hospital_midnight():
    import yaml

    from careops.experiments.definition import ExperimentDefinition

    data = yaml.safe_load((ROOT / "examples/experiments/recall.yaml").read_text(encoding="utf-8"))
    d = ExperimentDefinition.from_dict(data)
    assert d.start.isoformat() == "2026-01-04T16:00:00+00:00"
    assert d.end.isoformat() == "2026-02-01T16:00:00+00:00"
    assert d.segment == 'lifecycle == "silent"'
