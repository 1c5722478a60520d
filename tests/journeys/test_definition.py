"""Journey definitions: the shipped templates validate; bad files name FILE:LINE:COLUMN,
the field and the reason; webhooks only reach allow-listed https hosts."""

from __future__ import annotations

import textwrap

import pytest

from careops.config import Settings
from careops.journeys.catalogue import TEMPLATES, entries, find, templates_dir
from careops.journeys.definition import DefinitionError, parse
from careops.journeys.webhooks import webhook_problem

GOOD = """\
key: demo
name: {zh: 演示, en: Demo}
version: 2
trigger: {kind: event, event: register}
steps:
  - {id: wait1, type: wait, for: 1d}
  - id: pick
    type: branch
    branches:
      - {when: 'lifecycle == "new" and age >= 60', goto: elder}
    otherwise: ab
  - id: ab
    type: split
    arms: [{name: a, weight: 0.45, goto: elder}, {name: b, weight: 0.45, goto: task}]
    holdout: 0.1
  - id: elder
    type: message
    purpose: service
    template: {zh: 您好, en: Hello}
  - {id: task, type: task, title: 回访, due: 1h}
"""


def problems(text: str, **kw) -> list[str]:
    with pytest.raises(DefinitionError) as exc:
        parse(textwrap.dedent(text), "j.yaml", **kw)
    return [str(p) for p in exc.value.problems]


def test_every_shipped_template_validates_without_errors():
    keys = {e.loaded.journey.key for e in entries(Settings()) if e.loaded}
    assert keys == set(TEMPLATES)
    assert all(e.error is None for e in entries(Settings()))
    assert sorted(p.stem for p in templates_dir().glob("*.yaml")) == sorted(TEMPLATES)


def test_a_good_definition_reads_into_models():
    j = parse(GOOD, "g.yaml").journey
    assert (j.key, j.name.en, j.version, j.trigger.kind) == ("demo", "Demo", 2, "event")
    assert j.step("wait1").seconds == 86400
    assert j.step("pick").branches[0].when.tags == ("lifecycle", "age")
    assert j.following("elder") == "task" and j.following("task") == "exit"


def test_an_unknown_field_is_named_with_its_line_and_column():
    bad = GOOD.replace("    otherwise: ab", "    otherwise: ab\n    colour: red")
    assert problems(bad) == [
        "j.yaml:12:5: steps[1].colour: 未知字段 / Extra inputs are not permitted"
    ]


def test_a_missing_field_and_a_bad_value_are_both_reported():
    bad = GOOD.replace("version: 2\n", "").replace("for: 1d", "for: soon")
    out = problems(bad)
    assert any(p.startswith("j.yaml:1:1: version: 缺少字段 / ") for p in out), out
    assert any("steps[0]" in p and "cannot read duration 'soon'" in p for p in out), out


def test_a_rule_with_an_unknown_tag_fails_at_its_line():
    bad = GOOD.replace('lifecycle == "new"', 'lifecyle == "new"')
    (p,) = problems(bad)
    assert p.startswith("j.yaml:10:10: steps[1].branches[0].when: 规则无效 / invalid rule")
    assert "lifecyle" in p


def test_goto_to_an_unknown_step_and_instant_loops_are_refused():
    assert (
        "unknown step 'nowhere'" in problems(GOOD.replace("otherwise: ab", "otherwise: nowhere"))[0]
    )
    loop = GOOD.replace(
        "{id: task, type: task, title: 回访, due: 1h}",
        "{id: task, type: task, title: 回访, due: 1h, next: pick}",
    )
    assert "loop without a wait" in problems(loop)[0]


def test_split_weights_must_sum_to_one():
    assert "must sum to 1" in problems(GOOD.replace("holdout: 0.1", "holdout: 0.3"))[0]


def test_markup_and_control_characters_in_text_are_refused():
    assert "control characters" in problems(GOOD.replace("zh: 您好", 'zh: "您好\\u202e"'))[0]


def test_a_blocked_template_fails_validation_with_the_words():
    bad = GOOD.replace("zh: 您好", "zh: 根治高血压")
    (p,) = problems(bad)
    assert "steps[3].template.zh" in p and "cure_claim" in p and "根治" in p


def test_missing_disclaimer_on_marketing_is_a_warning_not_an_error():
    loaded = parse(GOOD.replace("purpose: service", "purpose: marketing"), "w.yaml")
    assert [w.severity for w in loaded.warnings] == ["warning", "warning"]
    assert "missing_disclaimer" in str(loaded.warnings[0])


def test_medical_safety_only_on_medical_messages():
    bad = GOOD.replace("purpose: service", "purpose: service\n    medical_safety: true")
    assert "only medical messages" in problems(bad)[0]


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://hooks.example.com/x", "https"),
        ("https://user:pw@hooks.example.com/x", "credentials"),
        ("https://127.0.0.1/x", "IP addresses"),
        ("https://169.254.169.254/latest/meta-data", "IP addresses"),
        ("https://[::1]/x", "IP addresses"),
        ("https://evil.com/x", "not on the webhook allow-list"),
        ("https://hooks.example.com.evil.com/x", "not on the webhook allow-list"),
        ("https://example.com/x", "not on the webhook allow-list"),
    ],
)
def test_webhook_urls_outside_the_allow_list_are_refused(url, fragment):
    assert fragment in (webhook_problem(url, ["*.example.com", "crm.hospital.cn"]) or "")


def test_webhook_allowed_host_passes_and_validation_uses_the_setting():
    assert webhook_problem("https://a.example.com/x", ["*.example.com"]) is None
    assert webhook_problem("https://crm.hospital.cn/hook", ["crm.hospital.cn"]) is None
    hook = GOOD + "  - {id: hook, type: webhook, url: 'https://crm.hospital.cn/h'}\n"
    assert "allow-list" in problems(hook, settings=Settings())[0]
    allowed = Settings(journeys={"webhook_allow": ["crm.hospital.cn"]})
    assert parse(hook, "h.yaml", settings=allowed).journey.steps[-1].url.endswith("/h")


def test_find_by_key_and_by_file(tmp_path):
    assert find("glucose_alert", Settings()).journey.key == "glucose_alert"
    f = tmp_path / "mine.yaml"
    f.write_text(GOOD, encoding="utf-8")
    assert find(str(f), Settings()).journey.key == "demo"
    own = Settings(journeys={"dir": str(tmp_path)})
    assert find("demo", own).source == str(f)
    from careops.errors import NotFound

    with pytest.raises(NotFound, match="no journey 'nope'"):
        find("nope", own)


def test_a_compliance_finding_points_at_the_words_themselves():
    text = GOOD.replace("template: {zh: 您好, en: Hello}", 'template: {zh: "您好, 药到病除"}')
    (p,) = problems(text)
    line = textwrap.dedent(text).splitlines()[p_line(p) - 1]
    assert line[p_col(p) - 1 : p_col(p) + 3] == "药到病除"


def p_line(problem: str) -> int:
    return int(problem.split(":")[1])


def p_col(problem: str) -> int:
    return int(problem.split(":")[2])
