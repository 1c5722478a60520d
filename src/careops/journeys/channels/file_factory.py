"""Open the file channel from the settings (`journeys.file_channel_path`, else beside the
warehouse as `outbox/messages.jsonl`)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from careops.journeys.channels.file import FileChannel

if TYPE_CHECKING:
    from careops.config import Settings


def open_file_channel(settings: Settings) -> FileChannel:
    """The file channel writing where the settings say."""
    path = settings.journeys.file_channel_path
    if path is None:
        folder = Path("careops-data")
        if settings.warehouse.lower().startswith("duckdb:"):
            from careops.warehouse.connect import duckdb_path

            local = duckdb_path(settings.warehouse)
            if local not in ("", ":memory:"):
                folder = Path(local).parent
        path = str(folder / "outbox" / "messages.jsonl")
    return FileChannel(path)
