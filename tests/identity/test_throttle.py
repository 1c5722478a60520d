"""The per-address window of failed logins, kept in the state store, on a clock the test
moves: shared by every process (two throttles on one store are one window), on SQLite and
PostgreSQL."""

from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from careops.errors import TooManyRequests
from careops.identity.throttle import LoginThrottle
from careops.state.models import login_failures
from careops.state.store import connect_state, migrate


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'state.db'}"
    else:
        url = request.getfixturevalue("pg_database")()
    e = connect_state(url)
    migrate(e)
    yield e
    e.dispose()


def _rows(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(login_failures)).scalar_one()


def test_the_limit_applies_per_address_and_the_window_slides(engine):
    clock = Clock()
    t = LoginThrottle(engine, limit=3, window_s=60, clock=clock)
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


def test_two_processes_share_one_window(engine):
    """Two service processes (two throttles over one store): failures in either count."""
    clock = Clock()
    a = LoginThrottle(engine, limit=4, window_s=60, clock=clock)
    b = LoginThrottle(engine, limit=4, window_s=60, clock=clock)
    a.failed("10.0.0.7")
    b.failed("10.0.0.7")
    a.failed("10.0.0.7")
    b.check("10.0.0.7")
    b.failed("10.0.0.7")
    for t in (a, b):
        with pytest.raises(TooManyRequests):
            t.check("10.0.0.7")


def test_no_address_is_never_throttled_and_old_failures_are_forgotten(engine):
    clock = Clock()
    t = LoginThrottle(engine, limit=1, window_s=60, clock=clock)
    t.failed(None)
    t.check(None)
    assert _rows(engine) == 0
    for i in range(300):  # a flood of spoofed sources
        t.failed(f"10.1.{i // 256}.{i % 256}")
    with pytest.raises(TooManyRequests):
        t.check("10.1.1.43")
    clock.now += 61  # the next failure purges what left the window
    t.failed("x" * 500)  # an absurd "address" is cut, not refused
    assert _rows(engine) == 1
    with pytest.raises(TooManyRequests):
        t.check("x" * 500)


def test_concurrent_failures_all_count(engine):
    t = LoginThrottle(engine, limit=10_000, window_s=60)
    threads = [
        threading.Thread(target=lambda: [t.failed("10.0.0.9") for _ in range(50)]) for _ in range(4)
    ]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert _rows(engine) == 200
