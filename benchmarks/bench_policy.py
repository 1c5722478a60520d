"""Benchmark the send policy: one batch of 1M candidate sends with consents, caps, quiet hours,
active hours, the global control group and channel choice — decisions per second.

Baseline, measured in the same run: the same `decide` called one candidate at a time (what a
per-patient loop costs) on the first `--baseline` candidates, scaled to decisions per second.

    python benchmarks/bench_policy.py [--candidates 1000000] [--users 400000] [--baseline 200]

Every decision is then checked by an independent computation (SQL through Ibis on an in-memory
DuckDB, not the policy's NumPy code): no send without the consent that applies, to the global
control group (marketing), beyond the daily or 7-day marketing caps, or in quiet hours; every
deferral lands in the open window. The run fails when a violation is found.

Writes benchmarks/results/policy.json (`careops bench policy`).
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

import numpy as np
import pyarrow as pa
import pyarrow.compute

from careops.bench import measure, save
from careops.journeys.policy import decide

TS = pa.timestamp("us", tz="UTC")


def world(n: int, n_users: int, now: dt.datetime, seed: int = 0):
    rng = np.random.default_rng(seed)
    now_us = int(now.timestamp() * 1_000_000)
    uu = np.array([f"u{i}" for i in range(n_users)], dtype=object)
    users = uu[rng.integers(0, n_users, n)]
    cand = pa.table(
        {
            "candidate_id": pa.array([f"c{i}" for i in range(n)]),
            "user_id": pa.array(users, pa.string()),
            "journey": pa.array(rng.choice(["new_user", "silent_recall", "chronic_bp"], n)),
            "step": pa.array(["s1"] * n),
            "purpose": pa.array(
                rng.choice(["marketing", "service", "medical"], n, p=[0.7, 0.2, 0.1])
            ),
            "channel": pa.array(rng.choice(["auto", "sms", "wechat"], n)),
            "due_at": pa.array(np.full(n, now_us - 1), pa.int64()).cast(TS),
        }
    )
    purpose = cand["purpose"].to_numpy(zero_copy_only=False)
    safety = (purpose == "medical") & (rng.random(n) < 0.1)
    cand = cand.append_column("medical_safety", pa.array(safety))
    profiles = pa.table(
        {
            "user_id": pa.array(uu, pa.string()),
            "age": pa.array(rng.integers(18, 90, n_users)),
            "usual_active_hour": pa.array(rng.choice([10, 20, 23, -1], n_users)),
            "sms": pa.array(rng.random(n_users) < 0.95),
            "wechat": pa.array(rng.random(n_users) < 0.7),
            "app_push": pa.array(rng.random(n_users) < 0.5),
            "email": pa.array(np.zeros(n_users, bool)),
            "phone": pa.array(rng.random(n_users) < 0.9),
        }
    )
    consents = pa.table(
        {
            "user_id": pa.array(np.concatenate([uu, uu[: n_users // 5]]), pa.string()),
            "channel": pa.array(["all"] * n_users + ["sms"] * (n_users // 5)),
            "purpose": pa.array(["all"] * n_users + ["marketing"] * (n_users // 5)),
            "granted": pa.array(
                np.concatenate([rng.random(n_users) < 0.9, rng.random(n_users // 5) < 0.5])
            ),
            "ts": pa.array(
                np.concatenate(
                    [
                        np.full(n_users, now_us - 30 * 86_400_000_000),
                        np.full(n_users // 5, now_us - 86_400_000_000),
                    ]
                ),
                pa.int64(),
            ).cast(TS),
        }
    )
    k = n_users // 2
    history = pa.table(
        {
            "user_id": pa.array(uu[rng.integers(0, n_users, k)], pa.string()),
            "journey": pa.array(rng.choice(["new_user", "silent_recall"], k)),
            "purpose": pa.array(rng.choice(["marketing", "service"], k)),
            "sent_at": pa.array(now_us - rng.integers(0, 7 * 86_400_000_000, k), pa.int64()).cast(
                TS
            ),
        }
    )
    return cand, profiles, consents, history


def violations(
    decisions, candidates, consents, history, now: dt.datetime, settings
) -> dict[str, int]:
    """Sends and deferrals that break a rule, counted by SQL independent of `decide`."""
    import ibis

    from careops.experiments.assign import in_global_control

    con = ibis.duckdb.connect()
    d = con.create_table(
        "d",
        decisions.append_column("medical_safety", candidates["medical_safety"]),
    )
    c = con.create_table("c", consents)
    h = con.create_table("h", history)
    sends = d.filter(d.decision == "send")
    # the latest consent row that applies to each send (channel or all, purpose or all)
    j = sends.join(
        c,
        (sends.user_id == c.user_id)
        & ((c.channel == sends.channel) | (c.channel == "all"))
        & ((c.purpose == sends.purpose) | (c.purpose == "all")),
    )
    j = j.mutate(
        n=ibis.row_number().over(group_by=j.candidate_id, order_by=[ibis.desc(j.ts), j.granted])
    )
    latest = j.filter(j.n == 0).select("candidate_id", "granted")
    s2 = sends.left_join(latest, "candidate_id")
    consent_bad = (
        s2.filter(
            ((s2.purpose == "marketing") & ~s2.granted.fill_null(False))
            | ((s2.purpose != "marketing") & (s2.granted == False))  # noqa: E712
        )
        .count()
        .execute()
    )
    tz = settings.tz
    loc = now.astimezone(tz)
    day_start = dt.datetime.combine(loc.date(), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    week_start = now.astimezone(dt.UTC) - dt.timedelta(days=7)
    mk = (
        sends.filter(sends.purpose == "marketing")
        .group_by("user_id")
        .aggregate(sent=ibis._.count())
    )
    hm = h.filter(h.purpose == "marketing")
    past = hm.group_by("user_id").aggregate(
        today=(hm.sent_at >= day_start).sum(), week=(hm.sent_at > week_start).sum()
    )
    caps = settings.journeys.caps["marketing"]
    both = mk.left_join(past, "user_id")
    cap_bad = (
        both.filter(
            (both.sent + both.today.fill_null(0) > caps.per_day)
            | (both.sent + both.week.fill_null(0) > caps.per_7_days)
        )
        .count()
        .execute()
    )
    mk_users = mk.select("user_id").to_pyarrow()["user_id"]
    control_bad = (
        int(in_global_control(mk_users, settings.experiments.global_control_pct).sum())
        if len(mk_users)
        else 0
    )
    qs, qe = (
        int(x.split(":")[0]) for x in (settings.journeys.quiet_start, settings.journeys.quiet_end)
    )
    offset_h = int(loc.utcoffset().total_seconds() // 3600)  # Asia/Shanghai: no DST
    quiet_now = loc.hour >= qs or loc.hour < qe
    quiet_bad = sends.filter(~sends.medical_safety).count().execute() if quiet_now else 0
    defers = d.filter(d.decision == "defer")
    hour = (defers.until.epoch_seconds() // 3600 + offset_h) % 24
    until_bad = defers.filter((hour >= qs) | (hour < qe) | (defers.until <= now)).count().execute()
    return {
        "send_without_consent": int(consent_bad),
        "send_over_marketing_caps": int(cap_bad),
        "marketing_to_global_control": control_bad,
        "send_in_quiet_hours": int(quiet_bad),
        "deferred_into_quiet_hours_or_past": int(until_bad),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--candidates", type=int, default=1_000_000)
    ap.add_argument("--users", type=int, default=400_000)
    ap.add_argument("--baseline", type=int, default=200)
    args = ap.parse_args()
    now = dt.datetime(2026, 3, 2, 10, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    cand, profiles, consents, history = world(args.candidates, args.users, now)

    run = measure(lambda: decide(cand, now, profiles=profiles, consents=consents, history=history))
    out = run.value
    counts = out.group_by(["decision", "reason"]).aggregate([("candidate_id", "count")])
    rows = sorted(counts.to_pylist(), key=lambda r: -r["candidate_id_count"])

    m = min(args.baseline, args.candidates)
    base = measure(
        lambda: [
            decide(cand.slice(i, 1), now, profiles=profiles, consents=consents, history=history)
            for i in range(m)
        ]
    )
    from careops.config import get_settings

    settings = get_settings()
    broken = violations(out, cand, consents, history, now, settings)
    # the same world at 22:30: only medical-safety sends may go, every other send waits
    night = now.replace(hour=22)
    n_night = max(1, args.candidates // 10)
    c2, p2, k2, h2 = world(n_night, max(1, args.users // 10), night, seed=1)
    night_run = measure(lambda: decide(c2, night, profiles=p2, consents=k2, history=h2))
    night_out = night_run.value
    night_broken = violations(night_out, c2, k2, h2, night, settings)
    night_sends = night_out.filter(pa.compute.equal(night_out["decision"], "send")).num_rows
    rate = args.candidates / run.seconds
    base_rate = m / base.seconds
    result = {
        "data": {
            "candidates": args.candidates,
            "users": args.users,
            "consent_rows": consents.num_rows,
            "history_rows": history.num_rows,
        },
        "cpus": os.cpu_count(),
        "seconds": round(run.seconds, 2),
        "decisions_per_s": round(rate),
        "peak_rss_gb": round(run.peak_gb, 2),
        "aim_seconds": 60,
        "meets_aim": run.seconds <= 60,
        "baseline": {
            "what": "decide() one candidate at a time (each call re-reads the side tables)",
            "candidates": m,
            "seconds": round(base.seconds, 2),
            "decisions_per_s": round(base_rate),
        },
        "ratio_to_baseline": round(rate / base_rate, 1),
        "decisions": {f"{r['decision']}:{r['reason']}": r["candidate_id_count"] for r in rows},
        "violations": broken,
        "night_22_30": {
            "candidates": n_night,
            "seconds": round(night_run.seconds, 2),
            "sends_medical_safety": night_sends,
            "violations": night_broken,
        },
    }
    path = save("policy", result)
    import json

    print(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"saved {path}")
    if any(broken.values()) or any(night_broken.values()):
        raise SystemExit(f"policy violations found: {broken} {night_broken}")


if __name__ == "__main__":
    main()
