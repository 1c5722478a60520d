"""Report texts — now in the label catalogue (`careops.labels`, keys `report.*`); kept as a
re-export until every caller imports the catalogue."""

from __future__ import annotations

from careops.labels import label, section

TEXT: dict[str, dict[str, str]] = {
    k: {"zh": zh, "en": en} for k, (zh, en) in section("report").items()
}


def t(key: str, lang: str, **kw: object) -> str:
    """The text `key` in `lang`."""
    return label(f"report.{key}", lang, **kw)
