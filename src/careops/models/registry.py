"""The model registry: every trained model kept as a folder with what it needs to be trusted.

A model lives in `<registry>/<kind>/<model_id>/`: `meta.json` (kind, format version, as-of
date, when it was trained, the data fingerprint — the warehouse loads it saw and the row count of
each table before the cut-off —, the settings it was trained with, library versions, its
evaluation) and the model's own files (text or JSON only: nothing is unpickled when loading).
The registry folder is the `models.dir` setting, else `models/` beside a DuckDB warehouse file,
else `careops-data/models`.

Loading refuses, with a clear error, a folder that is not a model, a model of another format
version or another major library version, and (`check_usable`) a model trained as of a later
date than the scoring date (it saw data the scoring date must not see).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import shutil
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import ibis
from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.errors import Conflict, InvalidInput, NotFound

META = "meta.json"
_ID = re.compile(r"^[a-z]+-\d{4}-\d{2}-\d{2}-\d{8}T\d{6}Z?(-\d+)?$")
LIBRARIES = ("careops", "lightgbm", "numpy", "scikit-learn", "ibis-framework")


class ModelError(InvalidInput):
    """A model cannot be used: another version, a later as-of date, a damaged folder."""


def library_versions() -> dict[str, str]:
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "absent"
    return out


def _major(version: str) -> str:
    return version.split(".", 1)[0]


@dataclass
class ModelMeta:
    """What a registered model is; `meta.json` of its folder."""

    kind: str
    model_id: str
    format_version: int
    as_of: str
    trained_at: str
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    libraries: dict[str, str]
    evaluation: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def as_of_date(self) -> dt.date:
        return dt.date.fromisoformat(self.as_of)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def registry_dir(warehouse_url: str, settings: Settings | None = None) -> Path:
    """The registry folder of a warehouse (see the module docstring)."""
    settings = settings or get_settings()
    if settings.models.dir:
        return Path(settings.models.dir)
    if warehouse_url.lower().startswith("duckdb://"):
        from careops.warehouse.connect import duckdb_path

        path = duckdb_path(warehouse_url)
        if path not in ("", ":memory:"):
            return Path(path).parent / "models"
    return Path("careops-data") / "models"


def fingerprint(con: BaseBackend, cutoff: dt.datetime, tables: dict[str, str]) -> dict[str, Any]:
    """The data a model saw: per table the rows before `cutoff` ({table: ts column}), and the
    warehouse loads (`_loads`: id, content hash, table) that had finished before it."""
    rows: dict[str, int] = {}
    for name, ts in tables.items():
        t = con.table(name)
        lit = ibis.literal(
            cutoff if t[ts].type().timezone else cutoff.replace(tzinfo=None),
            type=t[ts].type(),
        )
        rows[name] = int(t.filter(t[ts] < lit).count().to_pyarrow().as_py())
    loads: list[dict[str, Any]] = []
    if "_loads" in con.list_tables():
        ld = con.table("_loads")
        ld = ld.filter((ld.status == "loaded") & (ld.table_name != ""))
        loads = [
            {"load_id": r["load_id"], "content_hash": r["content_hash"], "table": r["table_name"]}
            for r in ld.select("load_id", "content_hash", "table_name")
            .order_by(["load_id", "table_name"])
            .to_pyarrow()
            .to_pylist()
        ]
    return {"cutoff": cutoff.isoformat(), "rows": rows, "loads": loads}


class Registry:
    """The models of one warehouse, in one folder."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def new_folder(self, kind: str, as_of: dt.date) -> tuple[str, Path]:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
        base = f"{kind}-{as_of.isoformat()}-{stamp}"
        model_id, n = base, 1
        while (self.root / kind / model_id).exists():
            n += 1
            model_id = f"{base}-{n}"
        folder = self.root / kind / (model_id + ".tmp")
        folder.mkdir(parents=True, exist_ok=True)
        return model_id, folder

    def commit(self, meta: ModelMeta, tmp: Path) -> Path:
        """Write `meta.json` into the temporary folder and move it into place (all or nothing)."""
        (tmp / META).write_text(json.dumps(meta.to_dict(), ensure_ascii=False, indent=1), "utf-8")
        final = self.root / meta.kind / meta.model_id
        tmp.rename(final)
        return final

    def discard(self, tmp: Path) -> None:
        shutil.rmtree(tmp, ignore_errors=True)

    def list(self, kind: str | None = None) -> list[ModelMeta]:
        """Every readable model (newest as-of date, then newest training, first)."""
        out = []
        kinds = [kind] if kind else sorted(p.name for p in self.root.glob("*") if p.is_dir())
        for k in kinds:
            for folder in sorted((self.root / k).glob("*")):
                if folder.suffix == ".tmp" or not (folder / META).is_file():
                    continue
                try:
                    out.append(self._read_meta(folder))
                except ModelError:
                    continue
        return sorted(out, key=lambda m: (m.as_of, m.trained_at), reverse=True)

    def folder(self, model_id: str) -> Path:
        if not _ID.match(model_id or ""):
            raise InvalidInput(
                f"model id {model_id[:80]!r}: 不是模型编号 / not a model id (e.g. "
                "churn-2025-06-01-20250601T120000Z; see `careops models list`)"
            )
        kind = model_id.split("-", 1)[0]
        folder = self.root / kind / model_id
        if not (folder / META).is_file():
            raise NotFound(f"模型不存在 / no model {model_id!r} (careops models list)")
        return folder

    def show(self, model_id: str) -> ModelMeta:
        return self._read_meta(self.folder(model_id))

    def latest(self, kind: str, as_of: dt.date) -> ModelMeta:
        """The newest model of `kind` trained as of `as_of` or earlier."""
        models = self.list(kind)
        usable = [m for m in models if m.as_of_date <= as_of]
        if not usable:
            later = (
                f" (只有更晚的模型 / only models as of {models[-1].as_of} or later)"
                if models
                else ""
            )
            raise NotFound(
                f"没有截至 {as_of} 可用的 {kind} 模型{later} / no {kind} model trained as of "
                f"{as_of} or earlier in {self.root}: train one as of that date or earlier "
                f"(careops {kind} train)",
                field="as_of",
            )
        return usable[0]

    def _read_meta(self, folder: Path) -> ModelMeta:
        try:
            data = json.loads((folder / META).read_text("utf-8"))
            return ModelMeta(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise ModelError(
                f"模型文件损坏 / damaged model folder {folder.name}: {type(exc).__name__}"
            ) from None


def check_compatible(meta: ModelMeta, kind: str, format_version: int) -> None:
    """Refuse a model of another kind, format version or major library version."""
    if meta.kind != kind:
        raise ModelError(
            f"模型 {meta.model_id} 是 {meta.kind} 模型 / is a {meta.kind} model, not {kind}"
        )
    if meta.format_version != format_version:
        raise ModelError(
            f"模型 {meta.model_id} 的格式版本 {meta.format_version} 与当前 {format_version} 不符,"
            f"请重新训练 / model file from another version (format {meta.format_version}, this "
            f"CareOps reads {format_version}): retrain with `careops {kind} train`"
        )
    now = library_versions()
    for lib in ("lightgbm", "careops"):
        was = meta.libraries.get(lib, "absent")
        if _major(was) != _major(now[lib]):
            raise ModelError(
                f"模型 {meta.model_id} 由 {lib} {was} 训练, 当前为 {now[lib]}, 请重新训练 / "
                f"model trained with {lib} {was}, this installation has {now[lib]}: retrain"
            )


def check_usable(meta: ModelMeta, as_of: dt.date) -> None:
    """Refuse a model trained as of a later date than `as_of` (it saw later data)."""
    if meta.as_of_date > as_of:
        raise Conflict(
            f"模型 {meta.model_id} 训练于 {meta.as_of} 的数据, 晚于评分日期 {as_of} / the model "
            f"was trained on data up to {meta.as_of}, after the scoring date {as_of}: it would "
            "leak the future; pick an earlier model or train one as of that date"
        )
