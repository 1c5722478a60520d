"""Which adapter serves which channel name, opened from the settings."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from careops.errors import ConfigError

if TYPE_CHECKING:
    from careops.config import Settings
    from careops.journeys.channels.base import Channel

#: channel name -> "module:factory"; a factory takes (settings) and returns an open Channel
ADAPTERS: dict[str, str] = {
    "file": "careops.journeys.channels.file_factory:open_file_channel",
    "email": "careops.journeys.channels.factories:open_email",
    "sms": "careops.journeys.channels.factories:open_sms",
    "wechat": "careops.journeys.channels.factories:open_wechat",
    "app_push": "careops.journeys.channels.factories:open_app_push",
}


def open_channel(name: str, settings: Settings) -> Channel:
    """The adapter for channel `name`, opened with its settings (a `ConfigError` names what is
    missing when the channel is not configured)."""
    target = ADAPTERS.get(name)
    if target is None:
        raise ConfigError(
            f"渠道 {name!r} 未配置 / no adapter for channel {name!r}; known: {sorted(ADAPTERS)}"
        )
    module, attribute = target.split(":")
    return getattr(importlib.import_module(module), attribute)(settings)
