"""Sample size and power against statsmodels (NormalIndPower, power_proportions_2indep)."""

import math

import pytest
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    power_proportions_2indep,
    samplesize_proportions_2indep_onetail,
)

from careops.errors import ConfigError
from careops.experiments.stats.power import (
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from careops.experiments.stats.settings import PowerSettings


@pytest.mark.parametrize(
    ("mde", "sd", "alpha", "power", "ratio"),
    [(2.0, 20.0, 0.05, 0.8, 1.0), (0.5, 3.0, 0.01, 0.9, 2.0)],
)
def test_means_match_normal_ind_power(mde, sd, alpha, power, ratio):
    s = PowerSettings(alpha=alpha, power=power, ratio=ratio)
    n = sample_size_means(mde, sd, settings=s)
    ref = NormalIndPower().solve_power(effect_size=mde / sd, alpha=alpha, power=power, ratio=ratio)
    assert n.control == math.ceil(ref)
    assert n.treatment == math.ceil(n.control * ratio)
    assert power_means(mde, sd, 1234, s) == pytest.approx(
        NormalIndPower().power(mde / sd, 1234, alpha, ratio=ratio), rel=1e-10
    )


def test_textbook_means_rule_of_thumb():
    # Lehr's rule (van Belle, Statistical Rules of Thumb, 2008, §2.3): n ≈ 16 σ²/δ² per arm at
    # α = 0.05, power 0.8 (exactly 2·(1.95996 + 0.84162)² = 15.70).
    n = sample_size_means(1.0, 1.0)
    assert n.control == 16


def test_proportions_match_statsmodels():
    # statsmodels: p1 = p2 + diff is sample 1; our control is its sample 2, so with an even split
    # nobs1 is the treatment arm size.
    n = sample_size_proportions(0.10, 0.02)
    ref = samplesize_proportions_2indep_onetail(diff=0.02, prop2=0.10, power=0.8, alpha=0.05)
    assert n.control == math.ceil(ref)
    assert n.power >= 0.8
    got = power_proportions(0.10, 0.02, 3000)
    ref_power = power_proportions_2indep(0.02, 0.10, 3000, return_results=False)
    assert got == pytest.approx(ref_power, rel=1e-8)


def test_relative_mde_and_uneven_split():
    s = PowerSettings(ratio=0.5)  # half as many treated users as controls
    n = sample_size_proportions(0.2, 0.1, relative=True, settings=s)  # 20 % → 22 %
    # statsmodels with sample 1 = control (0.20), sample 2 = treatment (0.22), ratio n2/n1 = 0.5
    ref = power_proportions_2indep(-0.02, 0.22, n.control, ratio=0.5, return_results=False)
    assert ref >= 0.8
    assert (
        power_proportions_2indep(-0.02, 0.22, n.control - 1, ratio=0.5, return_results=False) < 0.8
    )
    assert n.treatment == math.ceil(n.control * 0.5)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"baseline": 1.2, "mde": 0.1}, "baseline"),
        ({"baseline": 0.5, "mde": 0.0}, "mde"),
        ({"baseline": 0.95, "mde": 0.1}, "outside"),
    ],
)
def test_bad_parameters_are_clear_errors(kwargs, field):
    with pytest.raises(ConfigError, match=field):
        sample_size_proportions(**kwargs)


def test_bad_settings_are_clear_errors():
    with pytest.raises(ConfigError, match="power"):
        PowerSettings(power=1.5)
    with pytest.raises(ConfigError, match="sd"):
        sample_size_means(1.0, 0.0)
