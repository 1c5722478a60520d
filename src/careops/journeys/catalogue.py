"""Where journey definitions live: the shipped SOP templates and the hospital's folder
(setting `journeys.dir`). A name finds a definition by its `key` (or file stem); the hospital's
file wins over a shipped template of the same key."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from careops.errors import InvalidInput, NotFound
from careops.journeys.definition import DefinitionError, Loaded, load_file

TEMPLATES = (
    "new_user",
    "silent_recall",
    "churn_winback",
    "chronic_bp",
    "glucose_alert",
    "renewal_ladder",
    "referral",
    "package_activation",
)
MAX_FILES = 1000


@dataclass(frozen=True)
class Entry:
    """One definition file as listed: valid (with its journey) or not (with the reason)."""

    source: str
    origin: str  # "template" | "hospital"
    loaded: Loaded | None = None
    error: str | None = None


def templates_dir() -> Path:
    return Path(str(resources.files("careops.journeys").joinpath("templates")))


def _files(settings: Any) -> list[tuple[Path, str]]:
    files = [(p, "template") for p in sorted(templates_dir().glob("*.yaml"))]
    folder = settings.journeys.dir
    if folder:
        d = Path(folder)
        if not d.is_dir():
            raise InvalidInput(f"journeys.dir 不是目录 / journeys.dir is not a folder: {d}")
        own = sorted([*d.glob("*.yaml"), *d.glob("*.yml")])
        if len(own) > MAX_FILES:
            raise InvalidInput(f"旅程文件过多 / more than {MAX_FILES} journey files in {d}")
        files += [(p, "hospital") for p in own]
    return files


def entries(settings: Any = None) -> list[Entry]:
    """Every definition file, each read and validated."""
    from careops.config import get_settings

    settings = settings or get_settings()
    out = []
    for path, origin in _files(settings):
        try:
            out.append(Entry(str(path), origin, load_file(path, settings=settings)))
        except (DefinitionError, InvalidInput) as exc:
            out.append(Entry(str(path), origin, error=str(exc)))
    return out


def find(name_or_file: str, settings: Any = None, *, files: bool = True) -> Loaded:
    """A definition by file path (when `files`), else by key or file stem (the hospital's
    first)."""
    from careops.config import get_settings

    settings = settings or get_settings()
    if len(name_or_file) > 4096 or "\x00" in name_or_file:
        raise InvalidInput("名称无效 / invalid journey name or file")
    p = Path(name_or_file)
    if files and (p.suffix in (".yaml", ".yml") or p.is_file()):
        return load_file(p, settings=settings)
    found = [e for e in entries(settings) if _matches(e, name_or_file)]
    found.sort(key=lambda e: e.origin != "hospital")
    if not found:
        known = sorted({e.loaded.journey.key for e in entries(settings) if e.loaded})
        raise NotFound(
            f"没有这个旅程 / no journey {name_or_file[:80]!r}; known: {', '.join(known)}"
        )
    entry = found[0]
    if entry.loaded is None:
        raise InvalidInput(entry.error or "invalid")
    return entry.loaded


def _matches(entry: Entry, name: str) -> bool:
    if Path(entry.source).stem == name:
        return True
    return entry.loaded is not None and entry.loaded.journey.key == name


def journey_caps(loaded: list[Loaded]) -> dict[str, Any]:
    """The per-journey caps each definition sets (keyed by journey key) for `policy.decide`;
    journeys without their own keep the `journeys.journey_caps` setting."""
    from careops.journeys.policy import Caps

    return {
        item.journey.key: Caps(item.journey.caps.per_day, item.journey.caps.per_7_days)
        for item in loaded
        if item.journey.caps.per_day is not None or item.journey.caps.per_7_days is not None
    }
