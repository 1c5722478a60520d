"""A small simulation shared by the simulator tests (built once per session)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from careops.sim import SimConfig, simulate
from careops.sim.generate import SimResult

SMALL = {
    "users": 1500,
    "days": 150,
    "seed": 11,
    "start": dt.date(2025, 3, 1),
    "chunk_users": 800,
    "truth_horizon_days": 365,
}


def _small_config(**over) -> SimConfig:
    return SimConfig(**{**SMALL, **over})


@pytest.fixture(scope="session")
def small_config():
    """Factory of the small test configuration, with overrides."""
    return _small_config


@pytest.fixture(scope="session")
def small_sim(tmp_path_factory: pytest.TempPathFactory) -> SimResult:
    return simulate(_small_config(), tmp_path_factory.mktemp("sim") / "out")


@pytest.fixture(scope="session")
def small_out(small_sim: SimResult) -> Path:
    return small_sim.out
