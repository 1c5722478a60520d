from pathlib import Path

import pytest

from careops.config import Settings, get_settings
from careops.errors import ConfigError

EXAMPLE = Path(__file__).parents[1] / "careops.yaml.example"


def test_the_example_file_is_valid_and_equals_the_defaults(monkeypatch):
    monkeypatch.setenv("CAREOPS_CONFIG", str(EXAMPLE))
    for key in ("CAREOPS_STATE", "CAREOPS_WAREHOUSE"):
        monkeypatch.delenv(key)
    get_settings.cache_clear()
    assert get_settings() == Settings(_env_file=None)


def test_environment_overrides_yaml(monkeypatch):
    monkeypatch.setenv("CAREOPS_CONFIG", str(EXAMPLE))
    monkeypatch.setenv("CAREOPS_LIFECYCLE__ACTIVE_MIN_DAYS", "2")
    monkeypatch.setenv("CAREOPS_WAREHOUSE", "postgresql://postgres@127.0.0.1/test")
    get_settings.cache_clear()
    s = get_settings()
    assert s.lifecycle.active_min_days == 2
    assert s.warehouse.startswith("postgresql://")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("timezone: Mars/Olympus\n", "unknown timezone 'Mars/Olympus'"),
        ("ingest: {max_bad_ratio: 2}\n", "max_bad_ratio"),
        ("warehous: x\n", "warehous"),
    ],
)
def test_bad_configuration_names_the_key(tmp_path, monkeypatch, text, message):
    path = tmp_path / "careops.yaml"
    path.write_text(text)
    monkeypatch.setenv("CAREOPS_CONFIG", str(path))
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match=message):
        get_settings()


def test_missing_config_file(monkeypatch):
    monkeypatch.setenv("CAREOPS_CONFIG", "/nonexistent/careops.yaml")
    get_settings.cache_clear()
    with pytest.raises(ConfigError, match="not a file"):
        get_settings()
