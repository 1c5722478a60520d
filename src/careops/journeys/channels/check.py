"""Probe the configured channels without sending to any patient (`careops channels check`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from careops.errors import CareOpsError, ConfigError
from careops.journeys.channels.factories import configured
from careops.journeys.channels.probe import ProbeResult
from careops.journeys.channels.registry import ADAPTERS, open_channel

if TYPE_CHECKING:
    from careops.config import Settings

REAL = ("email", "sms", "wechat", "app_push")


def check_channels(settings: Settings, channel: str | None = None) -> list[ProbeResult]:
    """One `ProbeResult` per configured real channel (or only `channel`, which must then be
    configured): each adapter connects and proves its credentials, and is closed again."""
    if channel is not None:
        if channel not in REAL:
            known = ", ".join(n for n in ADAPTERS if n in REAL)
            raise ConfigError(
                f"未知渠道 {channel!r} / unknown channel {channel!r}; known: {known}",
                field="channel",
            )
        names = [channel]
    else:
        names = configured(settings)
    results = []
    for name in names:
        try:
            adapter = open_channel(name, settings)
        except CareOpsError as exc:
            results.append(ProbeResult(name, "-", False, str(exc)))
            continue
        try:
            results.append(adapter.probe())  # type: ignore[attr-defined]
        finally:
            adapter.close()
    return results
