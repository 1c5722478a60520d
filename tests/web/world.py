"""A small simulated hospital served by a real `careops serve` (uvicorn in a thread, a free
loopback port), with staff of every role, for the cockpit's browser tests.

The warehouse is simulated (300 patients over 200 days), ingested as `careops demo` does, with
tag snapshots stored at the as-of date and 30 days before (the migration matrix reads both).
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import uvicorn

from careops.service import Ops
from tests.api.world import PASSWORD, contacts_key, isolated_settings

USERS, DAYS, START = 300, 200, date(2025, 6, 1)
AS_OF = START + timedelta(days=DAYS)
EARLIER = AS_OF - timedelta(days=30)
#: role -> (username, departments)
STAFF = {
    "admin": ("boss", ()),
    "operations": ("ops-li", ()),
    "medical": ("dr-wang", ("心血管内科",)),
    "health_manager": ("hm-zhao", ()),
    "analyst": ("ana-chen", ()),
    "auditor": ("aud-sun", ()),
}


@dataclass
class Cockpit:
    """The running service: its address, an administrator's `Ops` on the same warehouse."""

    url: str
    ops: Ops
    server: uvicorn.Server
    thread: threading.Thread
    folder: Path
    users: dict[str, str] = field(default_factory=dict)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.ops.close()


def build(folder: Path) -> Cockpit:
    """Simulate, ingest, snapshot, add staff, then serve the app on a free loopback port."""
    from careops.api.app import create_app
    from careops.demo import run_demo
    from careops.identity import accounts
    from careops.sim import SimConfig
    from careops.tags import service as tags

    settings = isolated_settings(
        CAREOPS_PRIVACY__CONTACTS_KEY=contacts_key(),
        CAREOPS_PRIVACY__PSEUDONYM_KEY=contacts_key(),
        CAREOPS_SERVICE__CLI_WAIT_S="30",
    )
    warehouse = f"duckdb:///{folder / 'warehouse.duckdb'}"
    state = f"sqlite:///{folder / 'warehouse.state.db'}"
    ops = Ops.open(warehouse=warehouse, state=state, settings=settings)
    cfg = SimConfig(users=USERS, days=DAYS, start=START, seed=7)
    run_demo(ops, folder, cfg)
    tags.compute(ops, EARLIER)
    users = {}
    for role, (name, departments) in STAFF.items():
        accounts.add_user(ops, name, role, PASSWORD, departments)
        users[role] = name

    app = create_app(settings, warehouse=warehouse, state=state)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on", access_log=False)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the cockpit's server did not start")
        time.sleep(0.05)
    return Cockpit(f"http://127.0.0.1:{port}", ops, server, thread, folder, users)
