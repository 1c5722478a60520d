"""Channels: how a decided send leaves CareOps (SMS, WeChat, app push, email, a file).

Every channel has one interface (`base.Channel`): `send(message) -> Outcome`. The journey
engine knows nothing of providers; it opens the channel a send was decided for with
`registry.open_channel(name, settings)` and records the outcome beside the send.
"""

from careops.journeys.channels.base import Channel, Message, Outcome
from careops.journeys.channels.registry import open_channel

__all__ = ["Channel", "Message", "Outcome", "open_channel"]
