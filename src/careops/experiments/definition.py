"""What an experiment is: key, variants with weights, targeting, dates and metrics.

A plain frozen dataclass validated on construction, so a bad definition never reaches assignment
or the state store. `to_dict` / `from_dict` give the JSON-ready form the state store persists.
Start and end are UTC instants; a date or a date-time without an offset is read in the hospital
timezone (`settings.timezone`), so `start: 2026-01-05` is 00:00 of that day in the hospital.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any

from careops.errors import ConfigError

KEY_PATTERN = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
WEIGHT_TOLERANCE = 1e-6
FIELDS = (
    "key",
    "name",
    "variants",
    "control",
    "segment",
    "start",
    "end",
    "primary_metrics",
    "guardrail_metrics",
)
_WHEN = "write 2026-01-05 (00:00 hospital time) or 2026-01-05T08:00:00+08:00"


@dataclass(frozen=True, slots=True)
class Variant:
    """One arm: its name and the share of eligible users it receives (0 < weight ≤ 1)."""

    name: str
    weight: float


def _utc(value: object, what: str, key: str) -> datetime | None:
    """`value` as a UTC instant: a date or `YYYY-MM-DD` is 00:00 hospital time, a date-time
    without an offset is hospital time, one with an offset is kept."""
    if value is None:
        return None
    if isinstance(value, str):
        if not value.strip():
            return None
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError:
            msg = f"experiment {key!r}: {what} {value!r} is not a date or date-time; {_WHEN}"
            raise ConfigError(msg) from None
    elif isinstance(value, date) and not isinstance(value, datetime):
        value = datetime.combine(value, time())
    elif not isinstance(value, datetime):
        kind = type(value).__name__
        msg = f"experiment {key!r}: {what} {value!r} ({kind}) is not a date or date-time; {_WHEN}"
        raise ConfigError(msg)
    if value.tzinfo is None:
        from careops.config import get_settings

        value = value.replace(tzinfo=get_settings().tz)
    return value.astimezone(UTC)


def hospital_time(instant: datetime, zone: bool = True) -> str:
    """`2026-01-05 00:00 Asia/Shanghai`: an instant as the hospital's wall clock (and zone)."""
    from careops.config import get_settings

    settings = get_settings()
    text = f"{instant.astimezone(settings.tz):%Y-%m-%d %H:%M}"
    return f"{text} {settings.timezone}" if zone else text


@dataclass(frozen=True, slots=True)
class ExperimentDefinition:
    """An experiment's design.

    key: stable slug (lower-case letters, digits, `_`, `-`); it salts the assignment hash, so
        changing it reshuffles every user.
    variants: two or more arms whose weights sum to 1.
    control: the arm the others are compared with (default: the first variant).
    segment: key of the targeted segment (None = every eligible user).
    start, end: the window in which users are exposed, as UTC instants (end after start; end
        excluded). Given as a date, a `YYYY-MM-DD` text or a date-time without an offset they
        are hospital time (`settings.timezone`); an aware date-time is kept as is. None = open.
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
        segment = self.segment
        if segment is not None and not (isinstance(segment, str) and segment.strip()):
            msg = (
                f"experiment {self.key!r}: segment {self.segment!r} must be a saved segment's"
                " name or a rule text (leave it out to target everyone)"
            )
            raise ConfigError(msg)
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
        unknown = sorted(set(map(str, data)) - set(FIELDS))
        if unknown:
            msg = (
                f"experiment {key!r}: unknown field {', '.join(unknown)};"
                f" fields are {', '.join(FIELDS)}"
            )
            raise ConfigError(msg)
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
            primary_metrics=_names(data.get("primary_metrics"), "primary_metrics", key),
            guardrail_metrics=_names(data.get("guardrail_metrics"), "guardrail_metrics", key),
        )


def _names(value: object, what: str, key: str) -> tuple[str, ...]:
    """A list of metric keys; one key alone is a list of one."""
    if not value:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ConfigError(
        f"实验 {key!r}: {what} 应为指标名列表, 实际 {value!r} / experiment {key!r}: {what} must "
        f"be a list of metric keys, got {value!r}"
    )
