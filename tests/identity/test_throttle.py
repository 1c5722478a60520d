"""The per-address window of failed logins, on a clock the test moves."""

from __future__ import annotations

import threading

import pytest

from careops.errors import TooManyRequests
from careops.identity import throttle as throttle_module
from careops.identity.throttle import LoginThrottle


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_applies_per_address_and_the_window_slides():
    clock = Clock()
    t = LoginThrottle(limit=3, window_s=60, clock=clock)
    for _ in range(3):
        t.check("10.0.0.1")
        t.failed("10.0.0.1")
        clock.now += 10  # failures at 1000, 1010, 1020
    with pytest.raises(TooManyRequests) as err:
        t.check("10.0.0.1")
    assert err.value.status == 429 and err.value.retry_after_s == 30  # 1000 + 60 - 1030
    t.check("10.0.0.2")  # another address is not affected
    clock.now = 1060.0  # the first failure left the window
    t.check("10.0.0.1")
    t.failed("10.0.0.1")
    with pytest.raises(TooManyRequests):
        t.check("10.0.0.1")
    clock.now = 1200.0  # all of them left
    t.check("10.0.0.1")


def test_no_address_is_never_throttled_and_memory_is_bounded(monkeypatch):
    monkeypatch.setattr(throttle_module, "MAX_ADDRESSES", 100)
    t = LoginThrottle(limit=1, window_s=60, clock=Clock())
    t.failed(None)
    t.check(None)
    for i in range(1000):  # a flood of spoofed sources
        t.failed(f"10.1.{i // 256}.{i % 256}")
    assert len(t._failures) <= 100
    with pytest.raises(TooManyRequests):
        t.check("10.1.3.231")  # the newest are kept


def test_concurrent_failures_all_count():
    t = LoginThrottle(limit=10_000, window_s=60)
    threads = [
        threading.Thread(target=lambda: [t.failed("10.0.0.9") for _ in range(500)])
        for _ in range(8)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(t._failures["10.0.0.9"]) == 4000
