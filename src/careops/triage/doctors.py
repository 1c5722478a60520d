"""Doctors for a triage answer: the doctors of the chosen departments, ranked by how well their
specialties (擅长) match the text, then availability where known, title and rating.

A doctor's score is the department's score times (1 + 0.3 per concept of the text named in the
doctor's specialties — 头疼 in the text matches 头痛 in the profile, both one concept — + 0.15 per
other shared phrase), plus small tie-breakers for title (主任医师 > 副主任 > 主治 > 住院) and mean
consultation rating; a doctor known to be unavailable drops to a third.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from careops.triage.kb import ABSORB, KnowledgeBase, shipped
from careops.triage.scan import phrases, scan
from careops.triage.zeroshot import Ranking

TITLE_RANK = {"主任医师": 3, "副主任医师": 2, "主治医师": 1, "住院医师": 0}
#: departments whose doctors are offered: the top ones within this share of the best score
CHOSEN_SHARE = 0.3
CHOSEN_MAX = 3


@dataclass(frozen=True)
class Doctor:
    """A doctor as the warehouse knows them (`doctors`, mean rating from `consultations`)."""

    doctor_id: str
    name: str
    department: str
    title: str = ""
    specialties: str = ""
    rating: float | None = None
    available: bool | None = None


@dataclass(frozen=True)
class DoctorMatch:
    """A suggested doctor, the score and the specialty words that matched."""

    doctor: Doctor
    score: float
    matched: tuple[str, ...]

    def as_dict(self) -> dict:
        d = self.doctor
        return {
            "doctor_id": d.doctor_id,
            "name": d.name,
            "department": d.department,
            "title": d.title,
            "specialties": d.specialties,
            "rating": None if d.rating is None else round(d.rating, 2),
            "available": d.available,
            "score": round(self.score, 4),
            "matched": list(self.matched),
        }


@dataclass(frozen=True, eq=False)
class DoctorIndex:
    """Doctors by department, each with the concepts and phrases of their specialties."""

    #: department → (doctor, {concept: the doctor's own word for it}, phrases of the profile)
    by_department: Mapping[str, tuple[tuple[Doctor, Mapping[int, str], frozenset[str]], ...]]

    @classmethod
    def build(cls, doctors: Sequence[Doctor], kb: KnowledgeBase | None = None) -> DoctorIndex:
        kb = kb or shipped()
        grouped: dict[str, list] = {}
        for d in doctors:
            concepts: dict[int, str] = {}
            for h in scan(d.specialties or "", kb.terms, kb.max_term):
                if not h.negated and kb.concepts[h.key].weights[0][0] != ABSORB:
                    concepts.setdefault(h.key, h.term)
            grouped.setdefault(d.department, []).append(
                (d, concepts, frozenset(phrases(d.specialties or "")))
            )
        return cls({k: tuple(v) for k, v in grouped.items()})

    def __len__(self) -> int:
        return sum(len(v) for v in self.by_department.values())


def rank_doctors(
    ranking: Ranking, index: DoctorIndex, text: str = "", *, top: int = 5
) -> list[DoctorMatch]:
    """The best `top` doctors of the chosen departments of `ranking` for the text."""
    if top <= 0 or not index.by_department or not ranking.recognised:
        return []
    best = ranking.departments[0].score
    chosen = [
        r
        for r in ranking.departments[:CHOSEN_MAX]
        if r.score > 0 and r.score >= CHOSEN_SHARE * best
    ]
    concepts = set(ranking.concepts)
    norm_text = text.lower()
    out: list[DoctorMatch] = []
    for r in chosen:
        for doctor, dc, dp in index.by_department.get(r.name, ()):
            shared = concepts & dc.keys()
            matched = [dc[c] for c in sorted(shared)]
            extra = [p for p in dp if p in norm_text and p not in matched]
            score = r.score * (1 + 0.3 * len(shared) + 0.15 * len(extra))
            score += 0.01 * TITLE_RANK.get(doctor.title, 0)
            if doctor.rating is not None:
                score += 0.02 * (doctor.rating - 4.0)
            if doctor.available is False:
                score /= 3
            out.append(DoctorMatch(doctor, score, tuple(matched + extra)))
    out.sort(key=lambda m: (-m.score, m.doctor.doctor_id))
    return out[:top]
