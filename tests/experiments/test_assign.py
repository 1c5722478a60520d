"""Assignment: stable, proportional to the weights, independent across experiments."""

import hashlib

import numpy as np
import pyarrow as pa
import pytest
from scipy import stats

from careops.errors import ConfigError, InputError
from careops.experiments.assign import (
    GLOBAL_CONTROL,
    GLOBAL_CONTROL_SALT,
    assign,
    hash_unit,
    in_global_control,
)
from careops.experiments.definition import ExperimentDefinition, Variant

IDS = [f"P{i:07d}" for i in range(30_000)]


def experiment(key="exp-a", weights=(0.5, 0.3, 0.2)):
    variants = tuple(Variant(n, w) for n, w in zip(("control", "b", "c"), weights, strict=False))
    return ExperimentDefinition(key, variants, ("conversion",))


def test_hash_is_the_documented_sha256_prefix():
    digest = hashlib.sha256(b"exp-a:P0000001").digest()
    expected = (int.from_bytes(digest[:8], "big") >> 11) / 2**53
    assert hash_unit("exp-a", ["P0000001"])[0] == expected


def test_assignment_is_stable_across_calls_and_input_types():
    first = assign(IDS, experiment(), global_control_pct=0.05)
    again = assign(pa.chunked_array([IDS[:100], IDS[100:]]), experiment(), global_control_pct=0.05)
    assert first.equals(again)
    # the order of users does not matter: each user's variant depends only on (key, user)
    shuffled = list(reversed(IDS))
    assert assign(shuffled, experiment(), 0.05).to_pylist() == first.to_pylist()[::-1]


def test_proportions_follow_weights_within_sampling_error():
    labels = np.array(assign(IDS, experiment(), respect_global_control=False).to_pylist())
    counts = [(labels == n).sum() for n in ("control", "b", "c")]
    p = stats.chisquare(counts, f_exp=np.array([0.5, 0.3, 0.2]) * len(IDS)).pvalue
    assert p > 0.001


def test_global_control_share_and_it_overrides_variants():
    held = in_global_control(IDS, 0.05)
    assert abs(held.mean() - 0.05) < 4 * np.sqrt(0.05 * 0.95 / len(IDS))
    labels = np.array(assign(IDS, experiment(), global_control_pct=0.05).to_pylist())
    np.testing.assert_array_equal(labels == GLOBAL_CONTROL, held)
    # the same users are held out of every experiment (one hospital-wide group)
    other = np.array(assign(IDS, experiment("exp-b"), global_control_pct=0.05).to_pylist())
    np.testing.assert_array_equal(other == GLOBAL_CONTROL, held)
    assert hash_unit(GLOBAL_CONTROL_SALT, IDS[:1]).shape == (1,)


def test_experiments_are_independent():
    a = np.array(assign(IDS, experiment("exp-a"), respect_global_control=False).to_pylist())
    b = np.array(assign(IDS, experiment("exp-b"), respect_global_control=False).to_pylist())
    table = np.array(
        [
            [((a == x) & (b == y)).sum() for y in ("control", "b", "c")]
            for x in ("control", "b", "c")
        ]
    )
    assert stats.chi2_contingency(table).pvalue > 0.001
    # and the global holdout is independent of each experiment's buckets
    held = in_global_control(IDS, 0.05)
    table = np.array(
        [[((a == x) & (held == h)).sum() for h in (True, False)] for x in ("control", "b", "c")]
    )
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_changing_weights_only_moves_users_at_band_edges():
    before = np.array(assign(IDS, experiment(weights=(0.5, 0.3, 0.2)), 0.05).to_pylist())
    after = np.array(assign(IDS, experiment(weights=(0.5, 0.25, 0.25)), 0.05).to_pylist())
    assert (before == after).mean() == pytest.approx(0.95, abs=0.012)


def test_bad_ids_and_shares_are_clear_errors():
    with pytest.raises(InputError, match="position 1 is empty"):
        assign(["a", None, "c"], experiment())
    with pytest.raises(ConfigError, match="global control share"):
        in_global_control(["a"], 1.5)


def test_default_share_comes_from_settings(monkeypatch):
    from careops.config import get_settings

    monkeypatch.setenv("CAREOPS_EXPERIMENTS__GLOBAL_CONTROL_PCT", "0.1")
    get_settings.cache_clear()
    try:
        assert abs(in_global_control(IDS).mean() - 0.10) < 0.01
    finally:
        monkeypatch.delenv("CAREOPS_EXPERIMENTS__GLOBAL_CONTROL_PCT")
        get_settings.cache_clear()
