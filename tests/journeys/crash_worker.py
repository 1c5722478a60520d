"""A journey worker process for the crash test: replays a journey on a PostgreSQL state store
and sends through the file channel (the peer), printing `ready` once imported and `sent N`
after each hand-over to the peer, so the test can kill it (SIGKILL) at a random moment while
work remains — whatever the machine's speed. Not a test module."""

from __future__ import annotations

import datetime as dt
import sys

from careops.config import get_settings
from careops.journeys.clock import run
from careops.journeys.definition import load_file
from careops.journeys.dispatch import ChannelSender
from careops.service import Ops


class Announcing:
    """The channel sender, saying on stdout when it handed messages to the peer."""

    def __init__(self, inner: ChannelSender) -> None:
        self.inner = inner

    def dedupes(self, channel: str) -> bool:
        return self.inner.dedupes(channel)

    def __call__(self, channel, messages):
        out = self.inner(channel, messages)
        print(f"sent {len(messages)}", flush=True)
        return out


def main(warehouse: str, state: str, journey: str, start: str, end: str) -> None:
    ops = Ops.open(warehouse=warehouse, state=state)
    assert ops.state is not None  # migrated before saying ready
    loaded = load_file(journey)
    print("ready", flush=True)
    sender = Announcing(ChannelSender(get_settings(), route="file"))
    run(
        ops,
        [loaded],
        dt.datetime.fromisoformat(start),
        dt.datetime.fromisoformat(end),
        sender=sender,
        batch=40,
        dispatch_batch=40,
    )
    print("done", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
