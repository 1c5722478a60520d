"""`careops journeys validate|list|show`: answers and exit codes, never a traceback."""

from __future__ import annotations

import json

from careops.journeys.catalogue import TEMPLATES, journey_caps, templates_dir
from careops.journeys.definition import parse

BAD = """\
key: bad
name: {zh: 坏, en: Bad}
version: 1
trigger: {kind: event, event: register}
steps:
  - {id: m, type: message, purpose: marketing, template: {zh: 保证治愈高血压}}
"""


def test_validate_the_shipped_templates(run_cli):
    files = sorted(templates_dir().glob("*.yaml"))
    code, out, err = run_cli("journeys", "validate", *files, "--json")
    assert code == 0, err
    results = json.loads(out)
    assert [r["key"] for r in results] == sorted(TEMPLATES)
    assert all(r["valid"] and r["warnings"] == [] for r in results)


def test_validate_names_file_line_and_rule_and_exits_1(run_cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    code, out, err = run_cli("journeys", "validate", bad, tmp_path / "missing.yaml")
    assert code == 1 and "Traceback" not in err + out
    assert "承诺疗效或治愈" in err and "no such file" in err
    code, out, _ = run_cli("journeys", "validate", bad, tmp_path / "missing.yaml", "--json")
    assert code == 1
    first, second = json.loads(out)
    assert not first["valid"] and not second["valid"]
    assert first["errors"][0].startswith(f"{bad}:6:63: steps[0].template.zh: 承诺疗效或治愈")
    assert "保证治愈" in first["errors"][0]
    assert "no such file" in second["errors"][0]


def test_list_and_show(run_cli, tmp_path, monkeypatch):
    (tmp_path / "broken.yaml").write_text("key: [", encoding="utf-8")
    monkeypatch.setenv("CAREOPS_JOURNEYS__DIR", str(tmp_path))
    from careops.config import get_settings

    get_settings.cache_clear()
    code, out, _ = run_cli("journeys", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert {r["key"] for r in rows if r["valid"]} == set(TEMPLATES)
    (broken,) = [r for r in rows if not r["valid"]]
    assert broken["origin"] == "hospital" and "YAML" in broken["error"]
    code, out, _ = run_cli("journeys", "show", "glucose_alert", "--json")
    assert code == 0
    shown = json.loads(out)
    assert shown["definition"]["steps"][1]["medical_safety"] is True
    code, out, err = run_cli("journeys", "show", "nope")
    assert code != 0 and "no journey 'nope'" in err and "Traceback" not in err
    code, out, _ = run_cli("journeys", "show", "chronic_bp", "--lang", "en")
    assert code == 0 and "remind" in out


def test_journey_caps_from_definitions():
    text = BAD.replace("保证治愈高血压", "您好") + "caps: {per_day: 2}\n"
    caps = journey_caps([parse(text, "x.yaml")])
    assert caps["bad"].per_day == 2 and caps["bad"].per_7_days is None
