"""Journeys as the API and the cockpit reach them: list, show, validate — each checking the
caller's permission (`journeys.read`, `journeys.write`) and returning pydantic models whose
fields are codes and texts, never internal objects. The CLI reads the same catalogue."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel

from careops.journeys.catalogue import entries, find
from careops.journeys.definition import DefinitionError, Loaded, parse

if TYPE_CHECKING:
    from careops.service import Ops

MAX_TEXT_BYTES = 200_000  # a definition sent over HTTP; files may be up to 1 MB


class ProblemOut(BaseModel):
    line: int
    column: int
    field: str
    message: str
    severity: Literal["error", "warning"]


class JourneySummary(BaseModel):
    key: str | None
    name_zh: str | None
    name_en: str | None
    version: int | None
    trigger: str | None
    steps: int | None
    origin: Literal["template", "hospital", "request"]
    valid: bool
    error: str | None = None
    warnings: list[ProblemOut] = []
    enabled: bool | None = None  # runs live (careops.journeys.switch); None: not a journey


class JourneyDetail(JourneySummary):
    definition: dict[str, Any]


class ValidationReport(BaseModel):
    valid: bool
    journey: JourneySummary | None = None
    problems: list[ProblemOut] = []


def _problems(items) -> list[ProblemOut]:
    return [
        ProblemOut(
            line=p.line, column=p.column, field=p.field, message=p.message, severity=p.severity
        )
        for p in items
    ]


def _summary(loaded: Loaded, origin: str) -> JourneySummary:
    j = loaded.journey
    return JourneySummary(
        key=j.key,
        name_zh=j.name.zh,
        name_en=j.name.en,
        version=j.version,
        trigger=j.trigger.kind,
        steps=len(j.steps),
        origin=origin,
        valid=True,
        warnings=_problems(loaded.warnings),
    )


def list_journeys(ops: Ops) -> list[JourneySummary]:
    """Every journey of the catalogue, valid or not (with the reason), and whether it runs."""
    from careops.journeys import switch

    ops.require("journeys.read")
    out = []
    listed = entries(ops.settings)
    pairs = [(e.loaded, e.origin) for e in listed if e.loaded]
    on = {j.journey.key for j in switch.live(ops, pairs)}
    for e in listed:
        if e.loaded is not None:
            out.append(
                _summary(e.loaded, e.origin).model_copy(
                    update={"enabled": e.loaded.journey.key in on}
                )
            )
        else:
            out.append(
                JourneySummary(
                    key=None, name_zh=None, name_en=None, version=None, trigger=None, steps=None,
                    origin=e.origin, valid=False, error=e.error,
                )
            )  # fmt: skip
    return out


def show_journey(ops: Ops, name: str) -> JourneyDetail:
    """One journey of the catalogue by key, with its whole definition."""
    from careops.journeys import switch

    ops.require("journeys.read")
    loaded = find_in_catalogue(name, ops)
    origin = "template" if "/journeys/templates/" in loaded.source else "hospital"
    enabled = switch.state_of(ops, loaded.journey.key, origin).enabled
    return JourneyDetail(
        **(_summary(loaded, origin).model_dump() | {"enabled": enabled}),
        definition=loaded.journey.model_dump(mode="json", by_alias=True),
    )


def find_in_catalogue(name: str, ops: Ops) -> Loaded:
    """By key only: a caller over HTTP never names a file on the server."""
    from careops.errors import InvalidInput

    if not name or len(name) > 64 or not name.replace("_", "a").isalnum() or not name.isascii():
        raise InvalidInput(f"旅程名无效 / invalid journey key {name[:64]!r}: a-z, 0-9, _")
    return find(name, ops.settings, files=False)


def validate_text(ops: Ops, text: str) -> ValidationReport:
    """Validate a definition sent as text (nothing is stored): every problem with its line,
    column and field, and the compliance warnings."""
    ops.require("journeys.write")
    from careops.errors import InvalidInput

    if len(text.encode("utf-8", "surrogatepass")) > MAX_TEXT_BYTES:
        raise InvalidInput(f"定义过大 / definition larger than {MAX_TEXT_BYTES:,} bytes")
    try:
        loaded = parse(text, "request", settings=ops.settings)
    except DefinitionError as exc:
        return ValidationReport(valid=False, problems=_problems(exc.problems))
    return ValidationReport(
        valid=True,
        journey=_summary(loaded, "request"),
        problems=_problems(loaded.warnings),
    )
