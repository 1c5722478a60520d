"""Smart triage (智能导诊) as one service: a text → red flag, departments, doctors.

`Triage` holds a hospital's catalogue and doctors; `Triage.ask(text)` answers one question and
`answer_lines(lines)` a JSON Lines batch (`{"id", "text"}` in, one object out per line in input
order; a bad line is answered with its line number and the reason while the others are
answered). `open_triage()` finds the catalogue: a file given, else the departments of the
warehouse's `doctors` table, else the shipped default catalogue. The CLI and the API call these.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from careops.errors import CareOpsError, InvalidInput
from careops.triage import catalogue as cat
from careops.triage.doctors import Doctor, DoctorIndex, DoctorMatch, rank_doctors
from careops.triage.redflags import Emergency, check
from careops.triage.zeroshot import Ranked, rank

MAX_TOP = 50
MAX_LINE = 100_000


@dataclass(frozen=True)
class Answer:
    """One triage answer: the emergency (if any) first, then departments and doctors."""

    text: str
    departments: tuple[Ranked, ...]
    doctors: tuple[DoctorMatch, ...]
    emergency: Emergency | None
    paediatric: bool
    recognised: bool
    found: tuple[str, ...]
    negated: tuple[str, ...]

    def as_dict(self, id: Any = None, *, words: bool = True) -> dict:
        """The JSON shape: `{"id","departments":[{"name","score"}],"doctors","emergency"}`
        plus what the text said (`found`, `negated`, `paediatric`, `recognised`)."""
        depts = []
        for r in self.departments:
            d = r.as_dict()
            if not words:
                d.pop("words")
            depts.append(d)
        return {
            "id": id,
            "departments": depts,
            "doctors": [m.as_dict() for m in self.doctors],
            "emergency": None if self.emergency is None else self.emergency.as_dict(),
            "paediatric": self.paediatric,
            "recognised": self.recognised,
            "found": list(self.found),
            "negated": list(self.negated),
        }


@dataclass(frozen=True, eq=False)
class Triage:
    """A hospital's catalogue and doctors, ready to answer."""

    catalogue: cat.Catalogue
    doctors: DoctorIndex = field(default_factory=lambda: DoctorIndex({}))

    @property
    def source(self) -> str:
        return self.catalogue.source

    def ask(self, text: str, *, top: int = 3, doctors: int = 5) -> Answer:
        """Triage one text. `top`: departments returned (1–50); `doctors`: doctors returned.
        Empty or over-long text is an `InvalidInput` naming `text`."""
        if not 1 <= top <= MAX_TOP:
            raise InvalidInput(f"top 应在 1–{MAX_TOP} / top must be 1–{MAX_TOP}", field="top")
        ranking = rank(text, self.catalogue)
        emergency = check(text, child=ranking.paediatric)
        return Answer(
            text=text,
            departments=ranking.departments[:top],
            doctors=tuple(rank_doctors(ranking, self.doctors, text, top=doctors)),
            emergency=emergency,
            paediatric=ranking.paediatric,
            recognised=ranking.recognised,
            found=ranking.found,
            negated=ranking.negated,
        )


def answer_lines(
    lines: Iterable[str], triage: Triage, *, top: int = 3, doctors: int = 5
) -> Iterator[dict]:
    """Answer JSON Lines `{"id": …, "text": …}`, one object per non-blank line, in order. A bad
    line gives `{"id", "line", "error"}` and the batch goes on."""
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        ident: Any = None
        try:
            if len(raw) > MAX_LINE:
                raise InvalidInput(
                    f"行超过 {MAX_LINE} 个字符 / line longer than {MAX_LINE} characters"
                )
            try:
                obj = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise InvalidInput(f"不是有效的 JSON / not valid JSON: {exc.msg}") from None
            if not isinstance(obj, Mapping):
                raise InvalidInput('应为 JSON 对象 / expected a JSON object {"id", "text"}')
            ident = obj.get("id")
            if ident is not None and not isinstance(ident, str | int | float):
                ident = None
                raise InvalidInput("id 应为字符串或数字 / id must be a string or a number")
            text = obj.get("text")
            if not isinstance(text, str):
                raise InvalidInput("缺少文本 / `text` is missing or not a string", field="text")
            yield triage.ask(text, top=top, doctors=doctors).as_dict(ident, words=False)
        except CareOpsError as exc:
            yield {"id": ident, "line": n, "error": str(exc)}


def load_doctors(ops) -> list[Doctor]:
    """Doctors of the warehouse (`doctors`; `specialties` when the table has it; the mean
    `rating` of their consultations when there are any)."""
    with ops.warehouse(read_only=True) as con:
        t = con.table("doctors")
        cols = [
            c for c in ("doctor_id", "name", "department", "title", "specialties") if c in t.columns
        ]
        rows = t.select(*cols).to_pyarrow().to_pylist()
        ratings: dict[str, float] = {}
        if "consultations" in con.list_tables():
            c = con.table("consultations")
            agg = (
                c.filter(c.rating.notnull())
                .group_by("doctor_id")
                .aggregate(rating=c.rating.mean())
                .to_pyarrow()
                .to_pylist()
            )
            ratings = {r["doctor_id"]: float(r["rating"]) for r in agg if r["rating"] is not None}
    out = []
    for r in rows:
        if not r.get("doctor_id") or not r.get("department"):
            continue
        out.append(
            Doctor(
                doctor_id=str(r["doctor_id"]),
                name=str(r.get("name") or ""),
                department=str(r["department"]),
                title=str(r.get("title") or ""),
                specialties=str(r.get("specialties") or ""),
                rating=ratings.get(str(r["doctor_id"])),
            )
        )
    return out


def open_triage(departments: Path | None = None, ops=None, *, use_warehouse: bool = True) -> Triage:
    """The triage of a hospital: catalogue from `departments` (a file), else the departments
    of the warehouse's doctors, else the shipped default; doctors from the warehouse when it
    has them. A warehouse that is missing or empty is not an error here: the default is used."""
    doctors: list[Doctor] = []
    if use_warehouse and ops is not None:
        try:
            doctors = load_doctors(ops)
        except CareOpsError:
            doctors = []
        except Exception as exc:  # ibis' TableNotFound: a warehouse without a doctors table
            if type(exc).__name__ != "TableNotFound":
                raise
    if departments is not None:
        catalogue = cat.load_file(departments)
    elif doctors:
        names = sorted({d.department for d in doctors})
        catalogue = cat.build((cat.Department(n) for n in names), source="warehouse")
    else:
        catalogue = cat.default()
    known = set(catalogue.names)
    return Triage(catalogue, DoctorIndex.build([d for d in doctors if d.department in known]))


def triage(text: str, departments: list[str] | None = None, *, top: int = 3) -> Answer:
    """One question against a list of department names (the shipped default when None) —
    the simplest entry for callers that hold their own catalogue."""
    from careops.triage.zeroshot import catalogue_of

    catalogue = cat.default() if departments is None else catalogue_of(tuple(departments))
    return Triage(catalogue).ask(text, top=top)
