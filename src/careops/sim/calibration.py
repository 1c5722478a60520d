"""Calibration: measure the generated tables against the figures the source documents quote.

Each measurement is a small named function over Ibis tables (so the metric library can replace
it one by one); `calibrate()` runs them all and reports value beside target.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import ibis
import ibis.expr.types as ir

from careops.labels import label
from careops.sim.config import SimConfig

Tables = dict[str, ir.Table]


def _days(a: ir.Value, b: ir.Value) -> ir.IntegerValue:
    """Whole days from timestamp a to timestamp b (on dates, so every backend agrees)."""
    return b.date().delta(a.date(), unit="day")


def retention_d30(t: Tables, cfg: SimConfig) -> float | None:
    """Share of users signed up ≥ 60 days before the end who were active on days 30–59."""
    p = t["patients"]
    end = ibis.date(cfg.end.isoformat())
    cohort = p.filter(end.delta(p.registered_at.date(), unit="day") >= 60)
    e = t["events"]
    j = e.inner_join(cohort, e.user_id == cohort.user_id)
    d = _days(j.registered_at, j.ts)
    back = j.filter((d >= 30) & (d < 60)).select("user_id").distinct().count().execute()
    total = cohort.count().execute()
    return back / total if total else None


def monthly_active_days(t: Tables, cfg: SimConfig) -> float:
    """Distinct active days per user per 30 days of being signed up."""
    e = t["events"]
    active = e.select(e.user_id, day=e.ts.date()).distinct().count()
    p = t["patients"]
    end = ibis.date(cfg.end.isoformat())
    exposure = (end.delta(p.registered_at.date(), unit="day").cast("float64") / 30.0).sum()
    return float(active.execute() / exposure.execute())


def consult_to_visit(t: Tables, cfg: SimConfig) -> float:
    """Share of online consultations followed by an offline visit (AMB) within 30 days."""
    c = t["consultations"].filter(lambda x: x.mode != "offline")
    v = t["encounters"].filter(lambda x: x["class"] == "AMB")
    j = c.inner_join(v, c.user_id == v.user_id)
    d = _days(j.started_at, j.start_at)
    hit = j.filter((j.start_at > j.started_at) & (d <= 30)).consultation_id.nunique()
    n = c.count().execute()
    return float(hit.execute() / n) if n else 0.0


def online_consult_price(t: Tables, cfg: SimConfig) -> float:
    """Mean amount of paid consultation orders."""
    o = t["orders"]
    return float(
        o.filter((o.category == "consultation") & (o.status == "paid")).amount_cny.mean().execute()
    )


def paid_cac(t: Tables, cfg: SimConfig) -> dict[str, float]:
    """Spend per new user of every channel that has spend."""
    m = t["marketing_spend"]
    g = m.group_by("channel").aggregate(spend=m.amount_cny.sum(), new=m.new_users.sum())
    df = g.filter(g.spend > 0).execute()
    return {r.channel: float(r.spend / r.new) if r.new else float("inf") for r in df.itertuples()}


def paid_cac_min(t: Tables, cfg: SimConfig) -> float:
    """The lowest CAC over paid channels."""
    return min(paid_cac(t, cfg).values())


def _ended(t: Tables, cfg: SimConfig) -> ir.Table:
    e = t["enrollments"]
    end = ibis.timestamp(f"{cfg.end.isoformat()}T00:00:00", timezone="UTC")
    ended = e.filter(e.end_at < end - ibis.interval(hours=cfg.timezone_offset_hours))
    r = e.filter(e.renewal_of.notnull()).select(renewed_id=e.renewal_of)
    return ended.left_join(r, ended.enrollment_id == r.renewed_id).mutate(
        renewed=lambda x: x.renewed_id.notnull()
    )


def package_renewal(t: Tables, cfg: SimConfig) -> float | None:
    """Share of enrolments that ended inside the window and were renewed (None: none ended)."""
    x = _ended(t, cfg)
    v = x.renewed.cast("float64").mean().execute()
    return None if v is None or v != v else float(v)


def renewal_by_activation(t: Tables, cfg: SimConfig) -> dict[str, float]:
    """Renewal of ended enrolments activated (≥ 5 entitlement uses in their first 90 days, by
    default) vs not."""
    x = _ended(t, cfg)
    u = t["entitlement_usage"]
    j = u.inner_join(x.select("enrollment_id", "start_at"), "enrollment_id")
    window = _days(j.start_at, j.ts) < cfg.activation_days
    uses = j.filter(window).group_by("enrollment_id").aggregate(uses=lambda g: g.count())
    y = x.left_join(uses, "enrollment_id").mutate(
        activated=lambda z: z.uses.fill_null(0) >= cfg.activation_uses
    )
    df = (
        y.group_by("activated")
        .aggregate(rate=y.renewed.cast("float64").mean(), n=y.count())
        .execute()
    )
    return {
        ("activated" if r.activated else "not_activated"): float(r.rate) for r in df.itertuples()
    }


#: The checks' labels (`sim.check.<name>` of `careops.labels`) say which definition each is:
#: these are not the metric library's `d30_retention` (active exactly on day 30) nor
#: `monthly_active_days` (per monthly active user).
METRICS: dict[str, Callable[[Tables, SimConfig], float | None]] = {
    "retention_d30": retention_d30,
    "monthly_active_days": monthly_active_days,
    "consult_to_visit": consult_to_visit,
    "online_consult_price": online_consult_price,
    "paid_cac_min": paid_cac_min,
    "package_renewal": package_renewal,
}


def open_tables(out: Path | str) -> Tables:
    """The generated tables as Ibis tables on an in-memory DuckDB (the warehouse's scratch)."""
    from careops.warehouse import scratch

    con = scratch()
    files = sorted(Path(out).glob("*.parquet"))
    return {p.stem: con.read_parquet(p, table_name=p.stem) for p in files}


def calibrate(out: Path, cfg: SimConfig) -> dict:
    """Every calibration metric, measured on the tables in `out`, beside its target."""
    t = open_tables(Path(out))
    rows = []
    for name, fn in METRICS.items():
        value = fn(t, cfg)
        lo, hi = cfg.targets.get(name, (None, None))
        ok = value is not None and (lo is None or value >= lo) and (hi is None or value <= hi)
        zh, en = (label(f"sim.check.{name}", g) for g in ("zh", "en"))
        rows.append(
            {
                "metric": name,
                "label_zh": zh,
                "label_en": en,
                "value": None if value is None else round(value, 4),
                "target_low": lo,
                "target_high": hi,
                "ok": bool(ok),
            }
        )
    return {
        "seed": cfg.seed,
        "users": cfg.users,
        "days": cfg.days,
        "start": cfg.start.isoformat(),
        "all_ok": all(r["ok"] for r in rows),
        "metrics": rows,
        "details": {
            "cac_by_channel": {k: round(v, 2) for k, v in paid_cac(t, cfg).items()},
            "renewal_by_activation": {
                k: round(v, 4) for k, v in renewal_by_activation(t, cfg).items()
            },
        },
    }
