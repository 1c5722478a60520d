"""The triage knowledge base: concepts (words patients write → specialties) and specialties with
the names hospitals give their departments, read from the shipped data files and validated.

`data/terms.tsv` holds one concept a line: its synonyms, the specialties that treat it with a
weight, and its kind; `data/specialties.tsv` the canonical specialties, their group, fallbacks
and department-name synonyms. Both name their sources in their header. A bad line is an
`InvalidInput` naming the file, the line and the reason; nothing is half-loaded.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from careops.errors import InvalidInput

#: the specialty of words that contain a term but mean something else (担心 holds 心)
ABSORB = "-"
#: the fallbacks of a specialty whose words count only where the hospital has it (儿科: a child
#: with a cough goes to 呼吸内科 in a hospital without paediatrics, not to 全科)
NO_FALLBACK = "-"
KINDS = frozenset({"symptom", "disease", "body", "drug", "abbr", "test", "cue"})
GROUPS = frozenset({"内科", "外科", "妇儿", "五官", "其他"})
#: the general specialty that takes a group's patients when a hospital lacks the specialist
GROUP_GENERAL = {"内科": "全科医学科", "外科": "普外科", "妇儿": "妇科", "五官": "全科医学科"}
GENERAL = ("全科医学科", "急诊科")
PAEDIATRICS = "儿科"
PREGNANCY = "产科"


def normalise(text: str) -> str:
    """NFKC (full-width letters, digits and punctuation to their plain forms), lower case."""
    return unicodedata.normalize("NFKC", text).lower()


@dataclass(frozen=True)
class Concept:
    """One idea of the knowledge base and the specialties that treat it."""

    id: int
    terms: tuple[str, ...]
    weights: tuple[tuple[str, float], ...]  # (specialty, weight), best first
    kind: str
    line: int

    @property
    def label(self) -> str:
        return self.terms[0]


@dataclass(frozen=True)
class Specialty:
    """A canonical specialty (心血管内科) and the names of departments that practise it."""

    name: str
    group: str
    fallbacks: tuple[str, ...]
    synonyms: tuple[str, ...]


@dataclass(frozen=True)
class KnowledgeBase:
    """Concepts and specialties, with the lookup tables the scanner and the mapper use."""

    concepts: tuple[Concept, ...]
    specialties: dict[str, Specialty]
    #: normalised term → concept id (specialty names written in a text are concepts too)
    terms: dict[str, int] = field(repr=False)
    #: normalised department-name synonym → specialties
    synonyms: dict[str, tuple[str, ...]] = field(repr=False)
    max_term: int = 1


def _data(name: str) -> Path:
    return Path(str(resources.files("careops.triage") / "data" / name))


def _rows(path: Path) -> list[tuple[int, list[str]]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"知识库文件无法读取 / cannot read {path.name}: {exc}") from exc
    rows = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip() and not line.startswith("#"):
            rows.append((n, line.rstrip("\n").split("\t")))
    return rows


def _bad(path: Path, line: int, reason: str) -> InvalidInput:
    return InvalidInput(f"{path.name} 第 {line} 行 / line {line}: {reason}", field="knowledge_base")


def read_specialties(path: Path) -> dict[str, Specialty]:
    """`specialties.tsv` → specialties by name, validated (group known, fallbacks defined)."""
    out: dict[str, Specialty] = {}
    for n, cols in _rows(path):
        if len(cols) != 4:
            raise _bad(path, n, f"应有 4 列 / expected 4 tab-separated columns, got {len(cols)}")
        name, group, fallbacks, synonyms = (c.strip() for c in cols)
        if group not in GROUPS:
            raise _bad(path, n, f"未知分组 / unknown group {group!r}")
        if name in out:
            raise _bad(path, n, f"专科重复 / specialty {name!r} defined twice")
        syn = tuple(dict.fromkeys(s.strip() for s in synonyms.split(",") if s.strip()))
        out[name] = Specialty(
            name,
            group,
            tuple(f for f in fallbacks.split(",") if f),  # ("-",): none at all
            (name, *syn),
        )
    for sp in out.values():
        for f in sp.fallbacks:
            if f not in out and sp.fallbacks != (NO_FALLBACK,):
                raise InvalidInput(
                    f"{path.name}: {sp.name} 的后备专科未定义 / fallback {f!r} is not a specialty",
                    field="knowledge_base",
                )
    for general in (*GROUP_GENERAL.values(), *GENERAL, PAEDIATRICS, PREGNANCY):
        if general not in out:
            raise InvalidInput(
                f"{path.name}: 缺少专科 / missing specialty {general!r}", field="knowledge_base"
            )
    return out


def read_concepts(path: Path, specialties: dict[str, Specialty]) -> tuple[Concept, ...]:
    """`terms.tsv` → concepts, validated: known specialties and kinds, positive weights, each
    term on one line only."""
    concepts: list[Concept] = []
    seen: dict[str, int] = {}
    for n, cols in _rows(path):
        if len(cols) != 3:
            raise _bad(path, n, f"应有 3 列 / expected 3 tab-separated columns, got {len(cols)}")
        terms_col, weights_col, kind = (c.strip() for c in cols)
        if kind not in KINDS:
            raise _bad(path, n, f"未知类别 / unknown kind {kind!r}")
        weights: list[tuple[str, float]] = []
        for part in weights_col.split(","):
            spec, _, w = part.partition(":")
            if spec != ABSORB and spec not in specialties:
                raise _bad(path, n, f"未知专科 / unknown specialty {spec!r}")
            try:
                weight = float(w)
            except ValueError:
                raise _bad(path, n, f"权重不是数字 / weight {w!r} is not a number") from None
            if not (0 <= weight <= 5) or (weight == 0) != (spec == ABSORB):
                raise _bad(path, n, f"权重超出范围 / weight {w!r} out of range for {spec!r}")
            weights.append((spec, weight))
        terms = tuple(normalise(t.strip()) for t in terms_col.split("|") if t.strip())
        if not terms:
            raise _bad(path, n, "没有词 / no terms")
        for t in terms:
            if t in seen and seen[t] != n:
                raise _bad(path, n, f"词 {t!r} 已在第 {seen[t]} 行 / already on line {seen[t]}")
            seen[t] = n
        weights.sort(key=lambda sw: -sw[1])
        concepts.append(
            Concept(len(concepts), tuple(dict.fromkeys(terms)), tuple(weights), kind, n)
        )
    return tuple(concepts)


def build(concepts: tuple[Concept, ...], specialties: dict[str, Specialty]) -> KnowledgeBase:
    """Index the concepts (each word also with 痛 and 疼 swapped, unless that form is another
    concept's), and add every specialty synonym as a concept of its own (a patient who writes
    "想挂心内科" names the specialty)."""
    terms = {t: c.id for c in concepts for t in c.terms}
    for c in concepts:  # 痛 and 疼 are one word to patients: 右下腹疼 is 右下腹痛
        for t in c.terms:
            for a, b in (("痛", "疼"), ("疼", "痛")):
                if a in t:
                    terms.setdefault(t.replace(a, b), c.id)
    synonyms: dict[str, list[str]] = {}
    for sp in specialties.values():
        for s in sp.synonyms:
            synonyms.setdefault(normalise(s), []).append(sp.name)
    extra: list[Concept] = []
    for syn, specs in synonyms.items():
        if syn not in terms and len(syn) >= 2:
            cid = len(concepts) + len(extra)
            extra.append(Concept(cid, (syn,), tuple((s, 3.0) for s in specs), "cue", 0))
            terms[syn] = cid
    all_concepts = concepts + tuple(extra)
    return KnowledgeBase(
        concepts=all_concepts,
        specialties=specialties,
        terms=terms,
        synonyms={k: tuple(v) for k, v in synonyms.items()},
        max_term=max(len(t) for t in terms),
    )


def load(terms: Path | None = None, specialties: Path | None = None) -> KnowledgeBase:
    """The knowledge base from the given files, or the shipped one (cached)."""
    if terms is None and specialties is None:
        return shipped()
    specs = read_specialties(specialties or _data("specialties.tsv"))
    return build(read_concepts(terms or _data("terms.tsv"), specs), specs)


@functools.cache
def shipped() -> KnowledgeBase:
    """The knowledge base shipped in `careops/triage/data/` (read once per process)."""
    specs = read_specialties(_data("specialties.tsv"))
    return build(read_concepts(_data("terms.tsv"), specs), specs)
