"""`simulate()`: run the whole hospital chunk by chunk and write every table, the ground truth
and the calibration report to a folder."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from careops.errors import ConfigError
from careops.schema import TABLES
from careops.sim import arrow_util as au
from careops.sim import clinical, commerce, consents, contacts, engine, events, people, truth
from careops.sim.config import SimConfig
from careops.sim.context import Chunk
from careops.sim.population import draw_population
from careops.sim.world import build_world
from careops.sim.writer import GROUND_TRUTH, TableWriter

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SimResult:
    """Where the simulation went and how many rows each table got."""

    out: Path
    rows: dict[str, int]
    calibration: dict


def simulate(
    cfg: SimConfig,
    out: Path | str,
    progress: Progress | None = None,
    now: dt.datetime | None = None,
) -> SimResult:
    """Simulate `cfg.users` patients over `cfg.days` days from `cfg.start` into folder `out`."""
    out = Path(out)
    check_window(cfg, now)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"out: {out} exists and is not a folder")
    out.mkdir(parents=True, exist_ok=True)
    world = build_world(cfg.seed, cfg.start, cfg.days)
    props = events.Props(world.doctor_ids)
    w = TableWriter(out)
    w.write("doctors", world.doctors)
    w.write("catalogue", world.catalogue)
    signups = np.zeros((cfg.days, len(cfg.channels)), dtype=np.int64)
    n_chunks = math.ceil(cfg.users / cfg.chunk_users)
    try:
        for i in range(n_chunks):
            offset = i * cfg.chunk_users
            n = min(cfg.chunk_users, cfg.users - offset)
            rng = np.random.default_rng([cfg.seed, i + 1])
            pop = draw_population(cfg, rng, offset, n)
            trace = engine.run(cfg, pop, rng)
            ch = Chunk(cfg=cfg, index=i, pop=pop, trace=trace, world=world, rng=rng)
            _write_chunk(ch, w, props)
            commerce.count_signups(ch, signups)
            if progress:
                progress(offset + n, cfg.users)
        w.write("marketing_spend", commerce.marketing_spend(cfg, signups))
        for name in TABLES:  # every canonical table exists, even if empty
            if name not in w.rows:
                w.write(name, au.table(name, {TABLES[name].columns[0].name: []}))
    finally:
        w.close()
    from careops.sim.calibration import calibrate

    report = calibrate(out, cfg)
    (out / "calibration.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / GROUND_TRUTH / "config.json").write_text(
        cfg.model_dump_json(indent=2) + "\n", encoding="utf-8"
    )
    return SimResult(out=out, rows=dict(w.rows), calibration=report)


def end_utc(cfg: SimConfig) -> dt.datetime:
    """The instant the window ends: local midnight after the last day, in UTC."""
    return dt.datetime.combine(cfg.end, dt.time(), dt.UTC) - dt.timedelta(
        hours=cfg.timezone_offset_hours
    )


def check_window(cfg: SimConfig, now: dt.datetime | None = None) -> None:
    """Refuse a window that ends in the future: simulated facts must be in the past."""
    now = now or dt.datetime.now(dt.UTC)
    if end_utc(cfg) > now:
        raise ConfigError(
            f"start: 时间窗 {cfg.start}..{cfg.end} 结束于未来, 请选更早的开始日或更少的天数 / "
            f"the window {cfg.start}..{cfg.end} ends in the future; choose an earlier start "
            "or fewer days",
            field="start",
        )


def _write_chunk(ch: Chunk, w: TableWriter, props: events.Props) -> None:
    invites = people.assign_referrers(ch)
    parts = clinical.Parts()
    patients = contacts.with_contacts(ch, people.patients(ch))
    w.write("patients", patients)
    # the app's sign-up log (device, phone) is no canonical table: kept beside the truth
    phones = patients["contacts.phone"] if "contacts.phone" in patients.column_names else None
    signups, ring = people.referral_signups(ch, invites, phones)
    w.write(f"{GROUND_TRUTH}/referral_signups", signups)
    w.write(f"{GROUND_TRUTH}/referral_ring", ring)
    cons = clinical.consultations(ch, parts)
    w.write("consultations", cons["consultations"])
    w.write("prescriptions", cons["prescriptions"])
    w.write("encounters", cons["encounters"])
    w.write("observations", clinical.observations(ch, parts))
    w.write("conditions", clinical.conditions(ch))
    for name, table in commerce.enrollments(ch, parts).items():
        w.write(name, table)
    commerce.checkups(ch, parts)
    w.write("surveys", clinical.surveys(ch, cons["surveys_csat"]))
    w.write("tickets", clinical.tickets(ch, parts))
    w.write("orders", commerce.orders(ch, parts))
    w.write("events", events.events(ch, parts, props, invites))
    w.write("consents", consents.consents(ch))
    w.write(f"{GROUND_TRUTH}/users", truth.users(ch))
