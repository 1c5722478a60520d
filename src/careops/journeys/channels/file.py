"""The file channel: every message appended as one JSON line to a file.

For trying journeys without a provider (`careops journeys run` on the simulator, the demo) and
for hospitals that hand messages to another system by file. A line is written and flushed with
`fsync` before `send` answers `sent`, so a crash after the answer loses nothing.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from careops.journeys.channels.base import Message, Outcome


class FileChannel:
    """Appends each message to `path` as JSON Lines (UTF-8)."""

    name = "file"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - closed by close()

    def send(self, message: Message) -> Outcome:
        record = {
            "idempotency_key": message.idempotency_key,
            "user_id": message.user_id,
            "channel": message.channel,
            "purpose": message.purpose,
            "template": message.template,
            "address": message.address,
            "subject": message.subject,
            "body": message.body,
            "params": dict(message.params),
        }
        self._fh.write(json.dumps(record, ensure_ascii=False) + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return Outcome("sent", provider_id=message.idempotency_key)

    def close(self) -> None:
        self._fh.close()
