"""Interface labels of the experiment commands — now in the label catalogue
(`careops.labels`, keys `experiment.*`); kept as a re-export until every caller imports it."""

from __future__ import annotations

from careops.labels import label as _label
from careops.labels import section

LABELS: dict[str, dict[str, str]] = {
    k: {"zh": zh, "en": en} for k, (zh, en) in section("experiment").items()
}


def label(key: str, lang: str = "zh") -> str:
    """The label of `key` in `lang` (`zh` or `en`)."""
    return _label(f"experiment.{key}", lang)
