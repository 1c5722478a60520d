"""A journey worker process for the two-worker caps test: runs one engine tick at a fixed time
for ONE journey, after a start file appears; once it has claimed its batch it waits (up to
30 s) until the other worker has claimed too, so both hold a batch of the same patients at
once. Not a test module."""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

from careops.journeys.definition import load_file
from careops.journeys.engine import tick
from careops.service import Ops


def main(warehouse: str, state: str, now: str, rendezvous: str, journey: str) -> None:
    ops = Ops.open(warehouse=warehouse, state=state)
    loaded = load_file(journey)
    meet = Path(rendezvous)
    print("ready", flush=True)
    while not (meet / "go").exists():
        time.sleep(0.01)

    def claimed(users: list[str]) -> None:
        (meet / f"claimed-{loaded.journey.key}").touch()
        deadline = time.monotonic() + 30
        while len(list(meet.glob("claimed-*"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.01)

    report = tick(ops, [loaded], dt.datetime.fromisoformat(now), on_claim=claimed)
    print(f"sent={report.sent} suppressed={report.suppressed}", flush=True)


if __name__ == "__main__":
    main(*sys.argv[1:6])
