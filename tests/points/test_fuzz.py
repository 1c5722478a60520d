"""Hostile input at every door of points and referral: whatever arrives, the answer is a
result or a CareOps error, never a crash, and a refused call writes nothing."""

from __future__ import annotations

import contextlib
import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from careops.errors import CareOpsError
from careops.points import referral, service
from careops.points.referral_store import referral_signups
from careops.points.store import points_ledger
from careops.service import Ops

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
text = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["checkup", "consult_10", "p1", "order:1", "'; DROP TABLE x;--", "\x00", ""]),
)
ints = st.one_of(st.none(), st.integers(min_value=-(2**63), max_value=2**63), st.booleans())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def ops(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    context = Ops.open(state=f"sqlite:///{root / 's.db'}")
    service.earn(context, "patient", "p1", "manual", "seed", at=T0, points=700, verify=False)
    yield context
    context.close()


def count(ops: Ops, table) -> int:
    with ops.state.connect() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(table)).scalar()


@FUZZ
@given(kind=text, user=text, rule=text, source=text, points=ints)
def test_earn_takes_anything(ops, kind, user, rule, source, points):
    before = count(ops, points_ledger)
    try:
        got = service.earn(ops, kind, user, rule, source, at=T0, points=points, verify=False)
    except CareOpsError:
        assert count(ops, points_ledger) == before
    else:
        assert got.entry.points > 0 and count(ops, points_ledger) <= before + 1


@FUZZ
@given(user=text, coupon=text, key=st.one_of(st.none(), text))
def test_redeem_takes_anything_and_never_goes_negative(ops, user, coupon, key):
    with contextlib.suppress(CareOpsError):
        service.redeem(ops, user, coupon, request_key=key, at=T0)
    assert service.balance(ops, "patient", "p1", at=T0).available >= 0


@FUZZ
@given(invitee=text, code=text, device=st.one_of(st.none(), text), phone=st.one_of(st.none(), text))
def test_attribute_takes_anything(ops, invitee, code, device, phone):
    c = referral.create_code(ops, "inviter", "link", at=T0, verify=False)
    before = count(ops, referral_signups)
    for candidate in (code, c.code):
        try:
            referral.attribute(
                ops, invitee, candidate, at=T0 + dt.timedelta(1), device_id=device, phone=phone
            )
        except CareOpsError:
            assert count(ops, referral_signups) == before
