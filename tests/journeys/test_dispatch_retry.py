"""Engine retries follow the `channels.retry` settings: a peer that fails N times transiently
is tried again after backoff_s × factor^(tries−1) (or the provider's longer Retry-After), and
after `max_tries` the send is `failed` as undeliverable; a permanent failure is not retried."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Sequence

import sqlalchemy as sa

from careops.config import Settings
from careops.journeys import store
from careops.journeys.channels.base import Message, Outcome
from careops.journeys.dispatch import dispatch
from careops.service import Ops
from tests.journeys.engine_fixtures import at

T0 = at(3, 2)


class FlakyPeer:
    """Answers `retry` (HTTP 503) the first `fails[key]` times a key is offered, then accepts;
    keys in `permanent` are refused for good."""

    def __init__(self, fails: dict[str, int], permanent=(), retry_after=None) -> None:
        self.fails, self.permanent, self.retry_after = fails, set(permanent), retry_after
        self.tries: Counter = Counter()

    def __call__(self, channel: str, messages: Sequence[Message]) -> list[Outcome]:
        out = []
        for m in messages:
            k = m.idempotency_key
            self.tries[k] += 1
            if k in self.permanent:
                out.append(Outcome("failed", code="isv.MOBILE_NUMBER_ILLEGAL", error="bad number"))
            elif self.tries[k] <= self.fails.get(k, 0):
                out.append(Outcome("retry", code="http_503", error="HTTP 503",
                                   retry_after_s=self.retry_after))  # fmt: skip
            else:
                out.append(Outcome("sent", provider_id=f"p-{k}"))
        return out


def _ops(tmp_path, **retry) -> Ops:
    settings = Settings(channels={"retry": retry})
    ops = Ops.open(
        warehouse=f"duckdb:///{tmp_path / 'wh.duckdb'}",
        state=f"sqlite:///{tmp_path / 'state.db'}",
        settings=settings,
    )
    rows = [
        {"key": k, "enrolment_id": i, "journey": "j", "step": "s", "user_id": f"u{i}",
         "kind": "message", "channel": "sms", "purpose": "service",
         "payload": {"template": {"zh": "复诊提醒。"}}, "decided_at": T0, "status": "pending",
         "attempts": 0, "next_try": T0}
        for i, k in enumerate(("twice", "always", "bad"))
    ]  # fmt: skip
    with ops.state.begin() as conn:
        conn.execute(sa.insert(store.outbox), rows)
    return ops


def _rows(ops: Ops) -> dict:
    with ops.state.connect() as conn:
        return {r.key: r for r in conn.execute(sa.select(store.outbox))}


def test_retries_wait_as_the_channel_retry_settings_say(tmp_path):
    ops = _ops(tmp_path, max_tries=4, backoff_s=60, backoff_factor=3, backoff_max_s=600)
    peer = FlakyPeer({"twice": 2, "always": 99}, permanent={"bad"})
    s = dt.timedelta(seconds=1)

    assert dispatch(ops, T0, peer) == 0
    rows = _rows(ops)
    assert rows["bad"].status == "failed" and peer.tries["bad"] == 1  # never retried
    assert "bad number" in rows["bad"].error
    assert store.utc(rows["twice"].next_try) == T0 + 60 * s  # backoff_s
    assert rows["twice"].error == "HTTP 503"

    assert dispatch(ops, T0 + 59 * s, peer) == 0  # not yet due
    assert peer.tries["twice"] == 1
    assert dispatch(ops, T0 + 60 * s, peer) == 0  # 2nd try fails: next in 60 × 3 s
    assert store.utc(_rows(ops)["twice"].next_try) == T0 + 240 * s
    assert dispatch(ops, T0 + 240 * s, peer) == 1  # 3rd try goes through
    rows = _rows(ops)
    assert (rows["twice"].status, rows["twice"].attempts) == ("sent", 3)
    assert rows["twice"].provider_id == "p-twice"
    assert store.utc(rows["always"].next_try) == T0 + 240 * s + 540 * s  # 60 × 3² s

    # the 4th try of "always" is its last: undeliverable, the provider's error kept
    dispatch(ops, T0 + 780 * s, peer)
    rows = _rows(ops)
    assert (rows["always"].status, rows["always"].attempts) == ("failed", 4)
    assert "undeliverable after 4 tries" in rows["always"].error
    assert "HTTP 503" in rows["always"].error
    assert peer.tries == Counter({"twice": 3, "always": 4, "bad": 1})
    assert dispatch(ops, T0 + dt.timedelta(days=1), peer) == 0  # nothing left to try


def test_a_longer_retry_after_and_the_longest_wait_are_kept(tmp_path):
    ops = _ops(tmp_path, max_tries=3, backoff_s=1, backoff_factor=2, backoff_max_s=30)
    peer = FlakyPeer({"twice": 5, "always": 5, "bad": 5}, retry_after=90)
    dispatch(ops, T0, peer)
    # the provider asked for 90 s; the longest single wait is 30 s
    assert {store.utc(r.next_try) for r in _rows(ops).values()} == {T0 + dt.timedelta(seconds=30)}


class _Killed(BaseException):
    """Stands for SIGKILL in the middle of a provider call (nothing after it runs)."""


class DyingPeer(FlakyPeer):
    """Takes the messages (the provider has them) and dies before answering."""

    def __call__(self, channel, messages):
        super().__call__(channel, messages)
        raise _Killed


class DedupingPeer(FlakyPeer):
    def dedupes(self, channel: str) -> bool:
        return True


def _crash_once(ops: Ops) -> FlakyPeer:
    dying = DyingPeer({})
    with contextlib.suppress(_Killed):
        dispatch(ops, T0, dying)
    assert {r.status for r in _rows(ops).values()} == {"sending"}  # said before the call
    return dying


def test_a_send_interrupted_in_flight_is_not_resent_blindly(tmp_path):
    ops = _ops(tmp_path, max_tries=4)
    _crash_once(ops)
    peer = FlakyPeer({})  # a provider that takes no idempotency key
    assert dispatch(ops, T0 + dt.timedelta(minutes=1), peer) == 0
    assert not peer.tries  # nothing handed over again
    rows = _rows(ops)
    assert {r.status for r in rows.values()} == {"unknown"}
    assert all("delivery unknown" in r.error for r in rows.values())


def test_on_a_deduplicating_channel_an_interrupted_send_goes_again_under_its_key(tmp_path):
    ops = _ops(tmp_path, max_tries=4)
    dying = _crash_once(ops)
    peer = DedupingPeer({})
    assert dispatch(ops, T0 + dt.timedelta(minutes=1), peer) == 3
    assert set(peer.tries) == set(dying.tries)  # the same keys, the provider drops repeats
    assert {r.status for r in _rows(ops).values()} == {"sent"}
