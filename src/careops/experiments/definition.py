"""What an experiment is: key, variants with weights, targeting, dates and metrics.

A plain frozen dataclass validated on construction, so a bad definition never reaches assignment
or the state store. `to_dict` / `from_dict` give the JSON-ready form the state store will persist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from careops.errors import ConfigError

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
WEIGHT_TOLERANCE = 1e-6


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm: its name and the share of eligible users it receives (0 < weight ≤ 1)."""

    name: str
    weight: float


def _utc(value: datetime | str | None, what: str, key: str) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            msg = f"experiment {key!r}: {what} {value!r} is not an ISO date-time"
            raise ConfigError(msg) from exc
    if value.tzinfo is None:
        msg = f"experiment {key!r}: {what} {value.isoformat()} has no timezone; give it in UTC"
        raise ConfigError(msg)
    return value.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class ExperimentDefinition:
    """An experiment's design.

    key: stable slug (lower-case letters, digits, `_`, `-`); it salts the assignment hash, so
        changing it reshuffles every user.
    variants: two or more arms whose weights sum to 1.
    control: the arm the others are compared with (default: the first variant).
    segment: key of the targeted segment (None = every eligible user).
    start, end: UTC window in which users are exposed (end after start).
    primary_metrics: metric keys the decision rests on (at least one).
    guardrail_metrics: metric keys that must not get worse.
    """

    key: str
    variants: tuple[Variant, ...]
    primary_metrics: tuple[str, ...]
    guardrail_metrics: tuple[str, ...] = ()
    control: str | None = None
    segment: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    name: str = field(default="", compare=False)

    def __post_init__(self) -> None:
        if not KEY_PATTERN.match(self.key or ""):
            msg = (
                f"experiment key {self.key!r} is not valid: use 1–64 lower-case letters, digits,"
                " '_' or '-', starting with a letter or digit"
            )
            raise ConfigError(msg)
        object.__setattr__(self, "variants", tuple(self.variants))
        object.__setattr__(self, "primary_metrics", tuple(self.primary_metrics))
        object.__setattr__(self, "guardrail_metrics", tuple(self.guardrail_metrics))
        self._check_variants()
        self._check_metrics()
        start = _utc(self.start, "start", self.key)
        end = _utc(self.end, "end", self.key)
        if start is not None and end is not None and end <= start:
            msg = f"experiment {self.key!r}: end {end.isoformat()} is not after start"
            raise ConfigError(msg)
        object.__setattr__(self, "start", start)
        object.__setattr__(self, "end", end)
        if self.control is None:
            object.__setattr__(self, "control", self.variants[0].name)

    def _check_variants(self) -> None:
        names = [v.name for v in self.variants]
        if len(names) < 2:
            msg = f"experiment {self.key!r} needs at least 2 variants, got {len(names)}"
            raise ConfigError(msg)
        if any(not isinstance(n, str) or not n.strip() for n in names):
            msg = f"experiment {self.key!r}: every variant needs a non-empty name"
            raise ConfigError(msg)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            msg = f"experiment {self.key!r}: variant names repeat: {', '.join(duplicates)}"
            raise ConfigError(msg)
        for v in self.variants:
            if not (isinstance(v.weight, int | float) and 0 < v.weight <= 1):
                msg = (
                    f"experiment {self.key!r}: variant {v.name!r} has weight {v.weight!r};"
                    " each weight must be in (0, 1]"
                )
                raise ConfigError(msg)
        total = math.fsum(v.weight for v in self.variants)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            listed = ", ".join(f"{v.name}={v.weight:g}" for v in self.variants)
            msg = f"experiment {self.key!r}: variant weights sum to {total:g}, not 1 ({listed})"
            raise ConfigError(msg)
        if self.control is not None and self.control not in names:
            msg = (
                f"experiment {self.key!r}: control {self.control!r} is not a variant;"
                f" variants are {', '.join(names)}"
            )
            raise ConfigError(msg)

    def _check_metrics(self) -> None:
        if not self.primary_metrics:
            msg = f"experiment {self.key!r} needs at least one primary metric"
            raise ConfigError(msg)
        both = sorted(set(self.primary_metrics) & set(self.guardrail_metrics))
        if both:
            msg = f"experiment {self.key!r}: {', '.join(both)} is both primary and guardrail"
            raise ConfigError(msg)
        for group in (self.primary_metrics, self.guardrail_metrics):
            repeated = sorted({m for m in group if group.count(m) > 1})
            if repeated:
                msg = f"experiment {self.key!r}: metric {', '.join(repeated)} is listed twice"
                raise ConfigError(msg)

    @property
    def weights(self) -> dict[str, float]:
        """Variant name → weight, in definition order."""
        return {v.name: v.weight for v in self.variants}

    @property
    def metrics(self) -> tuple[str, ...]:
        """Primary then guardrail metric keys."""
        return self.primary_metrics + self.guardrail_metrics

    def check_metrics(self, known: Collection[str]) -> None:
        """Raise a clear error if a metric key is not in the metric library `known`."""
        unknown = [m for m in self.metrics if m not in known]
        if unknown:
            msg = (
                f"experiment {self.key!r}: unknown metric {', '.join(map(repr, unknown))};"
                f" known metrics: {', '.join(sorted(known)) or '(none)'}"
            )
            raise ConfigError(msg)

    def is_running(self, at: datetime) -> bool:
        """Whether users are exposed at the UTC instant `at` (open ends count as running)."""
        return (self.start is None or self.start <= at) and (self.end is None or at < self.end)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (ISO UTC dates), the inverse of `from_dict`."""
        return {
            "key": self.key,
            "name": self.name,
            "variants": [{"name": v.name, "weight": v.weight} for v in self.variants],
            "control": self.control,
            "segment": self.segment,
            "start": self.start.isoformat() if self.start else None,
            "end": self.end.isoformat() if self.end else None,
            "primary_metrics": list(self.primary_metrics),
            "guardrail_metrics": list(self.guardrail_metrics),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExperimentDefinition:
        """Build from a mapping; variants as a list of {name, weight} or a {name: weight} map."""
        key = str(data.get("key", ""))
        raw = data.get("variants") or []
        try:
            if isinstance(raw, Mapping):
                variants = tuple(Variant(str(k), float(w)) for k, w in raw.items())
            else:
                variants = tuple(Variant(str(v["name"]), float(v["weight"])) for v in raw)
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"experiment {key!r}: each variant needs a name and a numeric weight ({exc})"
            raise ConfigError(msg) from exc
        return cls(
            key=key,
            name=str(data.get("name") or ""),
            variants=variants,
            control=data.get("control"),
            segment=data.get("segment"),
            start=data.get("start"),
            end=data.get("end"),
            primary_metrics=tuple(data.get("primary_metrics") or ()),
            guardrail_metrics=tuple(data.get("guardrail_metrics") or ()),
        )
