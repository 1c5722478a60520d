"""A hospital's department catalogue and how each department maps onto the knowledge base's
specialties.

A catalogue is any list of department names, each with an optional description (a text file:
one name a line, optionally `名称<TAB>描述`). A name is mapped by, in order: an exact synonym
(心内科, 心血管科 → 心血管内科); the name without a suffix such as 门诊/专科/病区; the synonyms
it contains (小儿呼吸科 → 儿科 + 呼吸内科); the knowledge base's words in it (肝病中心 → 消化内科,
感染科); a name that says none of these is mapped by the words of its description. A specialty
no department practises sends its patients to its fallbacks (乳腺外科 → 普外科), then to its
group's general department (内科 → 全科医学科), then to 全科/急诊 — so the evidence still lands
somewhere sensible.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from careops.errors import InvalidInput
from careops.triage.kb import (
    ABSORB,
    GENERAL,
    GROUP_GENERAL,
    NO_FALLBACK,
    KnowledgeBase,
    normalise,
    shipped,
)
from careops.triage.scan import scan

MAX_NAME = 60
MAX_DESCRIPTION = 2000
MAX_DEPARTMENTS = 2000
_SUFFIX = re.compile(
    r"(门诊部|门诊|专科|诊区|诊室|病区|病房|专业|中心|[一二三四五六七八九十\d]+区|[（(].*?[)）])$"
)
_PAEDIATRIC_PREFIX = re.compile(r"^(小儿|儿童|儿|新生儿)")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class Department:
    """One department of the hospital's catalogue."""

    name: str
    description: str = ""


@dataclass(frozen=True, eq=False)  # hashed by identity: built once, cached by callers
class Catalogue:
    """A hospital's departments, each mapped onto specialties (`affinity[i]`: specialty → 0–1),
    and the specialty → departments routing used by the ranker."""

    departments: tuple[Department, ...]
    affinity: tuple[dict[str, float], ...]
    #: specialty → ((department index, weight), …), fallbacks included
    routes: dict[str, tuple[tuple[int, float], ...]] = field(repr=False)
    source: str = "given"

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.departments]

    def index_of(self, specialty: str) -> list[int]:
        """Departments that practise `specialty` themselves (no fallback)."""
        return [i for i, a in enumerate(self.affinity) if a.get(specialty, 0) >= 0.5]


def _clean(value: str, what: str, where: str, limit: int) -> str:
    text = value.strip()
    if _CONTROL.search(text):
        raise InvalidInput(
            f"{where}: {what}含控制字符 / {what} holds a control character", field="departments"
        )
    if len(text) > limit:
        raise InvalidInput(
            f"{where}: {what}超过 {limit} 个字符 / {what} longer than {limit} characters",
            field="departments",
        )
    return text


def map_name(name: str, description: str, kb: KnowledgeBase) -> dict[str, float]:
    """The specialties a department practises, 0–1, from its name and description."""
    n = normalise(name).replace(" ", "")
    found: dict[str, float] = {}
    core = n
    for _ in range(3):
        if core in kb.synonyms:
            found = {s: 1.0 for s in kb.synonyms[core]}
            break
        stripped = _SUFFIX.sub("", core)
        if stripped == core or not stripped:
            break
        core = stripped
    if not found:
        m = _PAEDIATRIC_PREFIX.match(core)
        if m and len(core) > len(m[0]):
            found["儿科"] = 1.0
            for s, w in map_name(core[len(m[0]) :], "", kb).items():
                found[s] = max(found.get(s, 0.0), 0.5 * w)
    if not found:
        inside = sorted(
            (s for s in kb.synonyms if len(s) >= 2 and s in core), key=len, reverse=True
        )
        kept: list[str] = []
        for s in inside:
            if not any(s in k for k in kept):
                kept.append(s)
        for s in kept:
            for sp in kb.synonyms[s]:
                found[sp] = 1.0
    if not found:
        found = _from_words(core, kb, 0.8)
    if description and not found:  # a name that says nothing: the description decides
        found = _from_words(description, kb, 1.0)
    return found


def _from_words(text: str, kb: KnowledgeBase, top: float) -> dict[str, float]:
    votes: dict[str, float] = defaultdict(float)
    for h in scan(text, kb.terms, kb.max_term):
        if h.negated:
            continue
        for s, w in kb.concepts[h.key].weights:
            if s != ABSORB:
                votes[s] += w
    if not votes:
        return {}
    best = max(votes.values())
    return {s: round(top * v / best, 4) for s, v in votes.items() if v >= 0.34 * best}


def _routes(affinity: Sequence[dict[str, float]], kb: KnowledgeBase) -> dict[str, tuple]:
    direct: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for i, a in enumerate(affinity):
        for s, w in a.items():
            direct[s].append((i, w))
    routes: dict[str, tuple[tuple[int, float], ...]] = {}
    for name, sp in kb.specialties.items():
        own = [(i, w) for i, w in direct.get(name, []) if w >= 0.5]
        weak = [(i, w) for i, w in direct.get(name, []) if w < 0.5]
        if own:
            routes[name] = tuple(own + weak)
            continue
        if sp.fallbacks == (NO_FALLBACK,):
            if weak:
                routes[name] = tuple(weak)
            continue
        chain = [*sp.fallbacks, GROUP_GENERAL.get(sp.group, ""), *GENERAL]
        via: list[tuple[int, float]] = list(weak)
        for fb in chain:
            targets = [(i, w) for i, w in direct.get(fb, []) if w >= 0.5]
            if targets:
                via += [(i, 0.6 * w) for i, w in targets]
                break
        if via:
            routes[name] = tuple(via)
    return routes


def build(
    departments: Iterable[Department], kb: KnowledgeBase | None = None, source: str = "given"
) -> Catalogue:
    """A catalogue from departments: names cleaned and checked (non-empty, unique, not too
    long, no control characters), each mapped onto specialties."""
    kb = kb or shipped()
    depts: list[Department] = []
    seen: dict[str, int] = {}
    for k, d in enumerate(departments, 1):
        where = f"第 {k} 个科室 / department {k}"
        name = _clean(d.name, "名称", where, MAX_NAME)
        if not name:
            raise InvalidInput(f"{where}: 名称为空 / empty name", field="departments")
        if name in seen:
            raise InvalidInput(
                f"{where}: 科室 {name!r} 与第 {seen[name]} 个重复 / duplicate of department "
                f"{seen[name]}",
                field="departments",
            )
        seen[name] = k
        depts.append(Department(name, _clean(d.description, "描述", where, MAX_DESCRIPTION)))
        if len(depts) > MAX_DEPARTMENTS:
            raise InvalidInput(
                f"科室超过 {MAX_DEPARTMENTS} 个 / more than {MAX_DEPARTMENTS} departments",
                field="departments",
            )
    if not depts:
        raise InvalidInput("科室目录为空 / the department catalogue is empty", field="departments")
    affinity = tuple(map_name(d.name, d.description, kb) for d in depts)
    return Catalogue(tuple(depts), affinity, _routes(affinity, kb), source)


def parse_lines(text: str, where: str = "catalogue") -> list[Department]:
    """Departments from catalogue text: one a line, `名称` or `名称<TAB>描述`; blank lines and
    lines starting with # are skipped. A line with a name but more than two columns is an error
    naming the line."""
    out: list[Department] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip("\r\n\ufeff")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        cols = line.split("\t")
        if len(cols) > 2:
            raise InvalidInput(
                f"{where} 第 {n} 行 / line {n}: 应为 名称<TAB>描述 / expected "
                f"name<TAB>description, got {len(cols)} columns",
                field="departments",
            )
        if not cols[0].strip():
            raise InvalidInput(
                f"{where} 第 {n} 行 / line {n}: 名称为空 / empty name", field="departments"
            )
        try:
            out.append(
                Department(
                    _clean(cols[0], "名称", f"{where} 第 {n} 行 / line {n}", MAX_NAME),
                    _clean(
                        cols[1] if len(cols) > 1 else "",
                        "描述",
                        f"{where} line {n}",
                        MAX_DESCRIPTION,
                    ),
                )
            )
        except InvalidInput:
            raise
    return out


def load_file(path: Path, kb: KnowledgeBase | None = None) -> Catalogue:
    """A catalogue from a text file (UTF-8): one department a line, optionally `名称<TAB>描述`."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InvalidInput(f"科室文件不存在 / no such file: {path}", field="departments") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(
            f"科室文件无法读取 (需 UTF-8) / cannot read {path} as UTF-8: {exc}", field="departments"
        ) from None
    return build(parse_lines(text, Path(path).name), kb, source=str(path))


DEFAULT_FILE = "default_departments.tsv"


def default(kb: KnowledgeBase | None = None) -> Catalogue:
    """The shipped default catalogue (a general hospital's departments)."""
    from careops.triage.kb import _data

    cat = load_file(_data(DEFAULT_FILE), kb)
    return Catalogue(cat.departments, cat.affinity, cat.routes, "default")
