"""The file channel: every message appended as one JSON line to a file.

For trying journeys without a provider (`careops journeys run` on the simulator, the demo) and
for hospitals that hand messages to another system by file. A line is written and flushed with
`fsync` before `send` answers `sent`, so a crash after the answer loses nothing.

Like providers that accept an idempotency key, the file drops a message whose key it already
holds (answering `sent` with code `duplicate`): a worker killed after the line was written and
before its commit sends the message again on restart, and the file keeps one line. Writers take
an exclusive `flock` around check-and-append, so two processes dedupe against each other too;
a line cut by a kill is closed (newline) before the next one, and skipped when reading keys.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from careops.journeys.channels.base import Message, Outcome

#: per resolved path: (bytes read so far, keys in them) — each open reads only what is new
_SEEN: dict[str, tuple[int, set[str]]] = {}


class FileChannel:
    """Appends each message to `path` as JSON Lines (UTF-8), once per idempotency key."""

    name = "file"
    #: a resend under the same key is dropped (the engine may resend in-flight rows)
    dedupes_by_key = True

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a+b")  # noqa: SIM115 - closed by close()
        self._id = str(self.path.resolve())

    def _catch_up(self) -> set[str]:
        """The keys in the file, reading only the bytes added since the last look."""
        offset, keys = _SEEN.get(self._id, (0, set()))
        size = os.fstat(self._fh.fileno()).st_size
        if size < offset:  # the file was replaced or cut: read it again
            offset, keys = 0, set()
        if size > offset:
            self._fh.seek(offset)
            data = self._fh.read(size - offset)
            end = data.rfind(b"\n") + 1  # only whole lines; a cut tail is read once closed
            for line in data[:end].splitlines():
                try:
                    keys.add(json.loads(line)["idempotency_key"])
                except (ValueError, KeyError, TypeError):  # a line cut by a kill
                    continue
            offset += end
        _SEEN[self._id] = (offset, keys)
        return keys

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
        fd = self._fh.fileno()
        fcntl.flock(fd, fcntl.LOCK_EX)
        try:
            keys = self._catch_up()
            if message.idempotency_key in keys:
                return Outcome("sent", provider_id=message.idempotency_key, code="duplicate")
            size = os.fstat(fd).st_size
            out = json.dumps(record, ensure_ascii=False).encode("utf-8") + b"\n"
            if size:
                self._fh.seek(size - 1)
                if self._fh.read(1) != b"\n":  # close a line cut by a kill first
                    out = b"\n" + out
            self._fh.write(out)  # append mode: always at the end
            self._fh.flush()
            os.fsync(fd)
            keys.add(message.idempotency_key)
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
        return Outcome("sent", provider_id=message.idempotency_key)

    def close(self) -> None:
        self._fh.close()
