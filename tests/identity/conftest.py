"""An administrator's service context (the CLI's OS account) over a fresh state store, and
helpers to act as a member of staff or an app."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from careops.service import Actor, Ops

PASSWORD = "correct horse battery staple"


@pytest.fixture
def ops() -> Iterator[Ops]:
    context = Ops.open()
    yield context
    context.close()


@pytest.fixture
def as_actor(ops):
    """`as_actor(Actor(...))` → an `Ops` on the same state store acting as that actor."""

    def make(actor: Actor) -> Ops:
        return Ops.open(
            ops.warehouse_url,
            ops.state_url,
            actor=actor,
            settings=ops.settings,
            shared_state=ops.state,
        )

    return make
