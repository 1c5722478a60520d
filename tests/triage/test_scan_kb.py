"""The knowledge base loads and is validated; the scan finds words longest first and negates
them the way a reader would."""

from __future__ import annotations

from pathlib import Path

import pytest

from careops.errors import InvalidInput
from careops.triage import kb
from careops.triage.scan import phrases, scan


def _found(text: str) -> tuple[list[str], list[str]]:
    k = kb.shipped()
    hits = scan(text, k.terms, k.max_term)
    live = [h.term for h in hits if not h.negated and k.concepts[h.key].weights[0][0] != kb.ABSORB]
    return live, [h.term for h in hits if h.negated]


def test_shipped_knowledge_base_covers_every_specialty_and_names_its_sources():
    k = kb.shipped()
    used = {s for c in k.concepts if c.line for s, _ in c.weights}
    # every specialty is reachable from some word a patient writes (besides its own name)
    assert set(k.specialties) - used == set()
    assert len(k.terms) > 2000
    for name in ("terms.tsv", "specialties.tsv"):
        head = kb._data(name).read_text(encoding="utf-8").split("\n# ----")[0]
        assert "Sources" in head and "国家卫生健康委" in head + kb._data(
            "specialties.tsv"
        ).read_text(encoding="utf-8")


@pytest.mark.parametrize(
    ("text", "live", "negated"),
    [
        ("不胸痛，就是咳嗽", ["咳嗽"], ["胸痛"]),
        ("没有发热、咳嗽和胸痛，只是头晕", ["头晕"], ["发热", "咳嗽", "胸痛"]),
        ("没有明显发热，但是头痛", ["头痛"], ["发热"]),
        ("最近睡不着", ["睡不着"], []),  # 不 inside a word is not a negation
        ("备孕一年怀不上", ["备孕", "怀不上"], []),
        ("胃有点不好受", ["胃"], []),  # the cue comes after the word
        ("否认高血压病史", [], ["高血压"]),
        ("头痛不发热", ["头痛"], ["发热"]),
        ("我不想吃饭，肚子痛", ["肚子痛"], []),  # 想吃饭 is not filler: 肚子痛 stands
        ("ＣＴ显示肺结节", ["ct", "肺结节"], []),  # full-width letters normalised
    ],
)
def test_scan_finds_words_and_negation(text, live, negated):
    got_live, got_neg = _found(text)
    assert got_live == live and got_neg == negated


def test_ascii_words_match_only_whole():
    live, _ = _found("react act 138度 hpv16")
    assert live == ["hpv16"]  # not ct in react/act, not 38度 in 138度


def test_phrases_cut_lists_and_tokenise_long_ones():
    assert phrases("高血压、冠心病和心律失常") == ["高血压", "冠心病", "心律失常"]
    long = phrases("擅长各种疑难杂症的综合诊断与治疗方案制定")
    assert long and all(len(p) <= 10 for p in long)


def _write(tmp_path: Path, terms: str, specs: str | None = None) -> tuple[Path, Path]:
    t = tmp_path / "terms.tsv"
    t.write_text(terms, encoding="utf-8")
    s = tmp_path / "specialties.tsv"
    s.write_text(specs or kb._data("specialties.tsv").read_text(encoding="utf-8"), "utf-8")
    return t, s


@pytest.mark.parametrize(
    ("terms", "message"),
    [
        ("头痛\t神经内科:2\n", "line 1"),  # two columns
        ("头痛\t神外:2\tsymptom\n", "神外"),  # unknown specialty
        ("头痛\t神经内科:x\tsymptom\n", "not a number"),
        ("头痛\t神经内科:9\tsymptom\n", "out of range"),
        ("头痛\t神经内科:2\tfeeling\n", "unknown kind"),
        ("头痛\t神经内科:2\tsymptom\n# c\n头痛|头疼\t神经内科:1\tsymptom\n", "line 3"),
    ],
)
def test_bad_knowledge_base_lines_are_named(tmp_path, terms, message):
    t, s = _write(tmp_path, terms)
    with pytest.raises(InvalidInput, match=message):
        kb.load(t, s)


def test_specialties_file_is_validated(tmp_path):
    t, s = _write(tmp_path, "头痛\t神经内科:2\tsymptom\n", "神经内科\t内科\t不存在科\t神内\n")
    with pytest.raises(InvalidInput, match="不存在科"):
        kb.load(t, s)
