"""The model registry: models kept with their metadata, listed newest first, the newest usable
one for a date found, and refused with a clear error when from another version, trained on
later data, damaged, or named by something that is not a model id."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from careops.config import Settings
from careops.errors import Conflict, InvalidInput, NotFound
from careops.models.registry import (
    META,
    ModelError,
    ModelMeta,
    Registry,
    check_compatible,
    check_usable,
    library_versions,
    registry_dir,
)


def _register(reg: Registry, as_of: str, **over) -> ModelMeta:
    model_id, tmp = reg.new_folder("churn", dt.date.fromisoformat(as_of))
    (tmp / "model.txt").write_text("trees", "utf-8")
    meta = ModelMeta(
        kind="churn",
        model_id=model_id,
        format_version=1,
        as_of=as_of,
        trained_at="2026-01-01T00:00:00+00:00",
        fingerprint={"rows": {"events": 3}},
        settings={"horizon_days": 7},
        libraries=library_versions(),
        **over,
    )
    reg.commit(meta, tmp)
    return meta


def test_register_list_show_and_latest(tmp_path):
    reg = Registry(tmp_path / "models")
    a = _register(reg, "2025-06-01")
    b = _register(reg, "2025-07-01")
    assert [m.model_id for m in reg.list()] == [b.model_id, a.model_id]
    assert reg.show(a.model_id).fingerprint == {"rows": {"events": 3}}
    assert reg.latest("churn", dt.date(2025, 6, 15)).model_id == a.model_id
    assert reg.latest("churn", dt.date(2025, 8, 1)).model_id == b.model_id
    with pytest.raises(NotFound, match="2025-06-01 or later"):
        reg.latest("churn", dt.date(2025, 5, 1))
    # nothing half-written is listed: a temporary folder without meta.json is ignored
    reg.new_folder("churn", dt.date(2025, 9, 1))
    assert len(reg.list()) == 2


def test_a_model_trained_on_later_data_is_refused(tmp_path):
    meta = _register(Registry(tmp_path), "2025-07-01")
    check_usable(meta, dt.date(2025, 7, 1))
    with pytest.raises(Conflict, match="after the scoring date 2025-06-30"):
        check_usable(meta, dt.date(2025, 6, 30))


def test_a_model_from_another_version_is_refused(tmp_path):
    reg = Registry(tmp_path)
    meta = _register(reg, "2025-07-01")
    check_compatible(meta, "churn", 1)
    with pytest.raises(ModelError, match="another version"):
        check_compatible(meta, "churn", 2)
    old = _register(reg, "2025-07-02", notes=[])
    old.libraries = dict(old.libraries, lightgbm="3.3.5")
    with pytest.raises(ModelError, match=r"lightgbm 3\.3\.5"):
        check_compatible(old, "churn", 1)
    with pytest.raises(ModelError, match="not clv"):
        check_compatible(meta, "clv", 1)


def test_damaged_and_bad_ids(tmp_path):
    reg = Registry(tmp_path)
    meta = _register(reg, "2025-07-01")
    for bad in ("../../etc/passwd", "churn-2025-07-01-x/../..", "", "<script>"):
        with pytest.raises(InvalidInput, match="not a model id"):
            reg.show(bad)
    with pytest.raises(NotFound):
        reg.show("churn-2025-07-01-20250101T000000Z")
    (reg.folder(meta.model_id) / META).write_text("{not json", "utf-8")
    with pytest.raises(ModelError, match="damaged"):
        reg.show(meta.model_id)
    assert reg.list() == []  # a damaged model is not listed
    (reg.folder(meta.model_id) / META).write_text(json.dumps({"kind": "churn"}), "utf-8")
    with pytest.raises(ModelError, match="damaged"):
        reg.show(meta.model_id)


def test_registry_folder(tmp_path):
    s = Settings()
    assert registry_dir(f"duckdb:///{tmp_path}/wh.duckdb", s) == tmp_path / "models"
    assert registry_dir("postgresql://h/db", s).as_posix() == "careops-data/models"
    s = Settings(models={"dir": str(tmp_path / "elsewhere")})
    assert registry_dir(f"duckdb:///{tmp_path}/wh.duckdb", s) == tmp_path / "elsewhere"
