"""Reading the care programme's data files (packages, plans, alert rules): YAML parsed safely,
validated by a strict pydantic model, refused whole with the file, line, field and reason."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from careops.errors import ConfigError
from careops.journeys import yamlsafe

M = TypeVar("M", bound=BaseModel)


class Strict(BaseModel):
    """A data-file model: unknown keys are errors, a YAML `yes` or "10" is not a number."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _where(exc: ValidationError, doc: yamlsafe.Located) -> str:
    problems = []
    for e in exc.errors()[:5]:
        loc = tuple(e["loc"])
        dotted = ".".join(str(p) for p in loc)
        line, _ = doc.mark(loc)
        what = e["msg"].removeprefix("Value error, ")
        if e["type"] == "extra_forbidden":
            what = "未知字段 / unknown field"
        elif e["type"] == "missing":
            what = "缺少必填字段 / required field missing"
        problems.append(f"line {line}: {dotted or '(top)'}: {what}")
    more = len(exc.errors()) - 5
    return "; ".join(problems) + (f"; … {more} more" if more > 0 else "")


def parse(model: type[M], text: str | bytes, source: str, what: tuple[str, str]) -> M:
    """`model` from YAML `text`; `ConfigError` naming `source`, the line, the field and why."""
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise ConfigError(f"{source}:{exc.line}:{exc.column}: {exc.message}") from None
    if not isinstance(doc.data, dict):
        raise ConfigError(f"{source}: {what[0]}应为映射 / {what[1]} must be a mapping")
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(
            f"{source}: {what[0]}无效 / invalid {what[1]}: {_where(exc, doc)}"
        ) from None


def load(model: type[M], path: Path | str | None, shipped: str, what: tuple[str, str]) -> M:
    """`model` from the file at `path`, else from the shipped `careops/care/data/<shipped>`."""
    if path is None:
        text = resources.files("careops.care").joinpath(f"data/{shipped}").read_bytes()
        return parse(model, text, shipped, what)
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"{what[0]}文件不存在 / {what[1]} file not found: {p}")
    return parse(model, p.read_bytes(), str(p), what)
