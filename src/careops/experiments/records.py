"""Experiments as typed records, one shape per side of the boundary.

- `ExperimentCreate`: what a caller gives (the YAML/JSON definition file): unknown fields are
  refused, a date is 00:00 hospital time, every check and message of `ExperimentDefinition`
  applies (it validates through it).
- `ExperimentStored`: what the state store keeps: the definition, when and by whom it was made.
- `ExperimentPublic`: what is shown outside (CLI JSON, API, cockpit): the definition and its
  status at a given instant; never the account that made it.

`ExperimentDefinition` (a frozen dataclass) stays the value the domain computes with
(assignment, exposures, analysis); `ExperimentCreate.definition()` gives it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from careops.errors import ConfigError
from careops.experiments.definition import ExperimentDefinition

Status = Literal["planned", "running", "ended"]


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class VariantModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    weight: float


class ExperimentCreate(BaseModel):
    """An experiment's design as given; see `ExperimentDefinition` for each field."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    name: str = ""
    variants: tuple[VariantModel, ...]
    control: str
    segment: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    primary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _through_definition(cls, data: Any) -> Any:
        """Every check (and its message) of the definition: unknown fields, weights, dates."""
        if isinstance(data, ExperimentDefinition):
            return data.to_dict()
        if isinstance(data, ExperimentCreate):
            return data.model_dump()
        if not isinstance(data, Mapping):
            raise ConfigError(
                "实验定义应为包含 key、variants、primary_metrics 等键的映射 / an experiment "
                "definition is a mapping with key, variants, "
                f"primary_metrics, …; got {type(data).__name__}"
            )
        return ExperimentDefinition.from_dict(data).to_dict()

    @field_validator("start", "end")
    @classmethod
    def _in_utc(cls, value: datetime | None) -> datetime | None:
        return _utc(value)

    @classmethod
    def of(cls, definition: ExperimentDefinition) -> ExperimentCreate:
        return cls.model_validate(definition)

    def definition(self) -> ExperimentDefinition:
        return ExperimentDefinition.from_dict(self.to_json())

    def to_json(self) -> dict[str, Any]:
        """The JSON form the state store keeps (UTC ISO times), same as `to_dict`."""
        return self.model_dump(mode="json") | {
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
        }

    def status(self, now: datetime) -> Status:
        if self.start is not None and now < self.start:
            return "planned"
        if self.end is not None and self.end <= now:
            return "ended"
        return "running"


class ExperimentStored(BaseModel):
    """An experiment as the state store keeps it."""

    model_config = ConfigDict(frozen=True)

    key: str
    definition: ExperimentCreate
    created_at: datetime
    created_by: str

    @field_validator("created_at")
    @classmethod
    def _created_utc(cls, value: datetime) -> datetime:
        return _utc(value)  # type: ignore[return-value]

    def public(self, now: datetime | None = None) -> ExperimentPublic:
        d = self.definition
        return ExperimentPublic(
            **d.model_dump(), status=d.status(now or datetime.now(UTC)), created_at=self.created_at
        )


class ExperimentPublic(BaseModel):
    """An experiment as shown outside: the design, its status, when it was created."""

    model_config = ConfigDict(frozen=True)

    key: str
    name: str
    variants: tuple[VariantModel, ...]
    control: str
    segment: str | None
    start: datetime | None
    end: datetime | None
    primary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...]
    status: Status
    created_at: datetime
