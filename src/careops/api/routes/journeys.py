"""Journeys (自动化旅程): the catalogue of definitions, one journey, validating a definition.

Enabling, disabling and per-step statistics arrive with the journey engine."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from careops.api.deps import require
from careops.journeys import service
from careops.service import Ops

router = APIRouter(prefix="/journeys", tags=["journeys"])

Key = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[A-Za-z0-9_-]+$",
        description="旅程标识 / journey key, e.g. silent_recall",
    ),
]


class DefinitionIn(BaseModel):
    """A journey definition as YAML text, to check (nothing is stored)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(max_length=200_000, description="YAML 定义 / the definition as YAML")


@router.get("", summary="旅程列表 / the journeys of the catalogue")
def list_journeys(
    ops: Annotated[Ops, Depends(require("journeys.read"))],
) -> list[service.JourneySummary]:
    """Every journey of the catalogue (shipped templates and the hospital's own), valid or not
    with the reason."""
    return service.list_journeys(ops)


@router.get("/{key}", summary="旅程详情 / one journey with its definition")
def show_journey(
    key: Key, ops: Annotated[Ops, Depends(require("journeys.read"))]
) -> service.JourneyDetail:
    """One journey by key, with its whole definition."""
    return service.show_journey(ops, key)


@router.post("/validate", summary="校验旅程定义 / validate a definition")
def validate(
    body: DefinitionIn, ops: Annotated[Ops, Depends(require("journeys.write"))]
) -> service.ValidationReport:
    """Every problem of a definition with its line, column and field, and the medical
    advertising compliance findings of its templates."""
    return service.validate_text(ops, body.text)
