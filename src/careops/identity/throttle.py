"""Failed logins per client address: a sliding window that slows password spraying.

The per-account lock-out (`accounts.login`) stops guessing one account's password; it does not
stop one address trying one common password on many accounts. This window counts failed logins
per client address and refuses further attempts from it (HTTP 429, with when to retry) once
`api.login_failures_per_ip` failed within `api.login_window_s` — before any password is checked,
so a sprayer also stops costing hashing time. It lives in the service process (one window per
process; a deployment of N processes allows N times as many); behind a reverse proxy, run the
ASGI server so that it reports the client's address (uvicorn `--forwarded-allow-ips`).
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable

from careops.errors import TooManyRequests

#: most addresses remembered at once: a flood of spoofed sources cannot grow memory without end
MAX_ADDRESSES = 100_000


class LoginThrottle:
    """Refuse logins from an address after `limit` failures within `window_s` seconds."""

    def __init__(
        self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._failures: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, address: str, now: float) -> deque[float]:
        times = self._failures.get(address)
        if times is None:
            return deque()
        while times and times[0] <= now - self.window_s:
            times.popleft()
        if not times:
            del self._failures[address]
        return times

    def check(self, address: str | None) -> None:
        """`TooManyRequests` (with `retry_after_s`) when `address` is over its limit."""
        if address is None:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if len(times) >= self.limit:
                wait = times[len(times) - self.limit] + self.window_s - now
                raise TooManyRequests(
                    "登录失败次数过多, 请稍后再试 / too many failed logins from this address; "
                    f"try again in {math.ceil(wait)} s",
                    retry_after_s=max(1, math.ceil(wait)),
                )

    def failed(self, address: str | None) -> None:
        """Count one failed login from `address`."""
        if address is None:
            return
        with self._lock:
            now = self._clock()
            times = self._recent(address, now)
            if not times:
                if len(self._failures) >= MAX_ADDRESSES:  # forget the stalest address
                    self._failures.pop(next(iter(self._failures)))
                self._failures[address] = times
            times.append(now)
            while len(times) > self.limit:  # only the last `limit` failures matter
                times.popleft()
