"""Failed logins per client address: a sliding window that slows password spraying.

The per-account lock-out (`accounts.login`) stops guessing one account's password; it does not
stop one address trying one common password on many accounts. This window counts failed logins
per client address and refuses further attempts from it (HTTP 429, with when to retry) once
`api.login_failures_per_ip` failed within `api.login_window_s` — before any password is checked,
so a sprayer also stops costing hashing time. The failures are rows of the state store
(`login_failures`), so every service process of a deployment shares one window; behind a
reverse proxy, run the ASGI server so that it reports the client's address (uvicorn
`--forwarded-allow-ips`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from careops.errors import TooManyRequests
from careops.state.models import login_failures

#: longest address kept (IPv6 with a zone fits); longer text is cut, never refused
MAX_ADDRESS = 64


class LoginThrottle:
    """Refuse logins from an address after `limit` failures within `window_s` seconds, counted
    in the state store behind `engine` (wall-clock seconds: processes on one host or on hosts
    whose clocks agree)."""

    def __init__(
        self,
        engine: Engine,
        limit: int,
        window_s: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.engine = engine
        self.limit = limit
        self.window_s = window_s
        self._clock = clock

    def check(self, address: str | None) -> None:
        """`TooManyRequests` (with `retry_after_s`) when `address` is over its limit."""
        if address is None:
            return
        now = self._clock()
        f = login_failures.c
        q = (
            sa.select(f.at)
            .where(f.address == address[:MAX_ADDRESS], f.at > now - self.window_s)
            .order_by(f.at.desc())
            .limit(self.limit)
        )
        with self.engine.connect() as conn:
            times = conn.execute(q).scalars().all()
        if len(times) >= self.limit:
            wait = times[-1] + self.window_s - now
            raise TooManyRequests(
                "登录失败次数过多, 请稍后再试 / too many failed logins from this address; "
                f"try again in {math.ceil(wait)} s",
                retry_after_s=max(1, math.ceil(wait)),
            )

    def failed(self, address: str | None) -> None:
        """Count one failed login from `address`; forget failures older than the window."""
        if address is None:
            return
        now = self._clock()
        with self.engine.begin() as conn:
            conn.execute(login_failures.insert().values(address=address[:MAX_ADDRESS], at=now))
            conn.execute(login_failures.delete().where(login_failures.c.at <= now - self.window_s))
