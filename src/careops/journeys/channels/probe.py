"""What probing a channel found (`careops channels check`): nothing is sent to a patient."""

from __future__ import annotations

from dataclasses import dataclass, field
from time import perf_counter


@dataclass(frozen=True)
class ProbeResult:
    """One channel's probe: reachable and accepted our credentials (`ok`), and why not."""

    channel: str
    provider: str
    ok: bool
    detail: str
    started: float = field(default=0.0, repr=False)
    latency_ms: float = 0.0

    def __post_init__(self) -> None:
        if self.started and not self.latency_ms:
            object.__setattr__(self, "latency_ms", round((perf_counter() - self.started) * 1000, 1))
