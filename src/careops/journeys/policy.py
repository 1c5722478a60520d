"""The send policy: decide, set-wise, what happens to a batch of candidate sends at one moment.

`decide(candidates, now, …)` answers every candidate with `send`, `defer` (with `until`, UTC) or
`suppress`, and a reason code (labels `journeys.reason.*`). All decisions are made at `now`
(the one clock of the engine); a deferred send is offered again when its `until` comes and is
decided afresh then, so nothing deferred counts against a cap. The rules, in order:

1. not yet due (`due_at > now`) → defer until `due_at` (`not_due`).
2. channel per person: a step's own channel first, then the person's list (elderly, age ≥
   `tags.elderly_min_age` → `journeys.elderly_channels`, others → `default_channels`); the first
   channel that is bound (the patient can be reached on it) and consented wins; none bound →
   suppress `no_channel`.
3. global control group (experiments.assign) never gets marketing → suppress `global_control`.
4. consent (the canonical `consents` rows; the latest row that applies to the channel and
   purpose, theirs or `all`, wins, a tie withdraws): marketing needs a grant (`no_consent`),
   service and medical go unless withdrawn (`consent_withdrawn`).
5. holiday do-not-disturb periods (`journeys.holidays`, per purpose) → defer (`holiday`).
6. quiet hours (`journeys.quiet_start`–`quiet_end`, hospital time) for `quiet_purposes`
   (default all three; only `medical_safety` sends — a glucose alert — are exempt, from
   holidays too) → defer to the end of the quiet hours (`quiet_hours`).
7. marketing waits for the patient's usual active hour (tag `usual_active_hour`, moved into the
   open window when it falls in the quiet hours) → defer (`active_hour`).
8. frequency caps among the sends still going, in priority order medical > service >
   marketing, then due time: per journey (`journey_cap_day`, `journey_cap_7_days`), per purpose
   per calendar day in hospital time (`cap_day`) and per rolling 7 days (`cap_7_days`),
   counting `history` (sends already made); capped → suppressed or deferred to the next day
   (`journeys.capped`).
9. one slot: at most `per_slot` non-medical sends per patient in one batch; the rest are
   deferred by `slot_minutes` (`slot_taken`).

Every `until` is moved out of quiet hours and holidays that apply to the send. The work is
NumPy over Arrow columns (sorts, group ranks, bincounts), no loop per patient: a million
decisions take seconds (benchmarks/bench_policy.py).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from careops.errors import InvalidInput

if TYPE_CHECKING:
    from careops.config import Settings

CHANNELS = ("sms", "wechat", "app_push", "email", "phone")
PURPOSES = ("medical", "service", "marketing")  # index = priority (0 outranks)
DECISIONS = ("send", "defer", "suppress")
REASONS = (
    "ok",
    "not_due",
    "no_channel",
    "global_control",
    "no_consent",
    "consent_withdrawn",
    "holiday",
    "quiet_hours",
    "active_hour",
    "journey_cap_day",
    "journey_cap_7_days",
    "cap_day",
    "cap_7_days",
    "slot_taken",
)
_R = {r: i for i, r in enumerate(REASONS)}
_SEND, _DEFER, _SUPPRESS = 0, 1, 2
_US = 1_000_000
_DAY = 86_400 * _US
_NO = np.iinfo(np.int64).max

CANDIDATE_COLUMNS = {
    "candidate_id": pa.string(),
    "user_id": pa.string(),
    "journey": pa.string(),
    "step": pa.string(),
    "purpose": pa.string(),
    "channel": pa.string(),
    "due_at": pa.timestamp("us", tz="UTC"),
}
DECISION_SCHEMA = pa.schema(
    [
        ("candidate_id", pa.string()),
        ("user_id", pa.string()),
        ("journey", pa.string()),
        ("step", pa.string()),
        ("purpose", pa.string()),
        ("channel", pa.string()),
        ("decision", pa.string()),
        ("until", pa.timestamp("us", tz="UTC")),
        ("reason", pa.string()),
    ]
)


@dataclass(frozen=True)
class Caps:
    per_day: int | None = None
    per_7_days: int | None = None


def _codes(
    values: pa.ChunkedArray | pa.Array, vocabulary: tuple[str, ...], what: str
) -> np.ndarray:
    """Index of each value in `vocabulary`; InvalidInput names the first unknown value."""
    idx = pc.index_in(values, value_set=pa.array(vocabulary))
    bad = pc.is_null(idx)
    if pc.any(bad).as_py():
        first = pc.filter(values, bad)[0].as_py()
        raise InvalidInput(
            f"{what} 取值无效 / {what} {first!r} is not one of {', '.join(vocabulary)}"
        )
    return idx.to_numpy(zero_copy_only=False).astype(np.int64)


def _us(values: pa.ChunkedArray | pa.Array) -> np.ndarray:
    """Microseconds since the epoch (UTC) of a timestamp column."""
    t = values.type
    if not pa.types.is_timestamp(t):
        raise InvalidInput(f"应为时间戳 / expected timestamps, got {t}")
    cast = values.cast(pa.timestamp("us", tz=t.tz)) if t.unit != "us" else values
    return pc.fill_null(cast.cast(pa.int64()), 0).to_numpy(zero_copy_only=False)


def _index(values: pa.ChunkedArray | pa.Array, universe: pa.Array) -> np.ndarray:
    idx = pc.index_in(values, value_set=universe)
    return pc.fill_null(idx, -1).to_numpy(zero_copy_only=False).astype(np.int64)


class _Clock:
    """Local (hospital) time arithmetic around one `now`, with holiday and quiet windows."""

    def __init__(self, now: dt.datetime, settings: Settings) -> None:
        self.tz = settings.tz
        self.now = now.astimezone(dt.UTC)
        self.now_us = _to_us(self.now)
        self.j = settings.journeys
        qs, qe = (_hhmm(self.j.quiet_start), _hhmm(self.j.quiet_end))
        self.quiet = (qs, qe)

    def local(self, us: int) -> dt.datetime:
        return dt.datetime.fromtimestamp(us / _US, dt.UTC).astimezone(self.tz)

    def at_local(self, day: dt.date, minutes: int) -> int:
        naive = dt.datetime.combine(day, dt.time(minutes // 60, minutes % 60))
        return _to_us(naive.replace(tzinfo=self.tz))

    def in_quiet(self, us: int) -> bool:
        loc = self.local(us)
        m = loc.hour * 60 + loc.minute
        qs, qe = self.quiet
        if qs == qe:
            return False
        return (m >= qs or m < qe) if qs > qe else (qs <= m < qe)

    def quiet_end_after(self, us: int) -> int:
        loc = self.local(us)
        end_today = self.at_local(loc.date(), self.quiet[1])
        return (
            end_today
            if end_today > us
            else self.at_local(loc.date() + dt.timedelta(1), self.quiet[1])
        )

    def holiday_end(self, us: int, purpose: str) -> int | None:
        day = self.local(us).date()
        for h in self.j.holidays:
            if purpose in h.purposes and h.start <= day <= h.end:
                return self.at_local(h.end + dt.timedelta(1), 0)
        return None

    def open_from(self, us: int, purpose: str, exempt: bool) -> int:
        """The first moment at or after `us` outside the holidays and quiet hours that apply."""
        quiet = purpose in self.j.quiet_purposes and not exempt
        for _ in range(400):
            end = None if exempt else self.holiday_end(us, purpose)
            if end is not None:
                us = end
                continue
            if quiet and self.in_quiet(us):
                us = self.quiet_end_after(us)
                continue
            return us
        return us

    def day_bounds(self) -> tuple[int, int]:
        day = self.local(self.now_us).date()
        return self.at_local(day, 0), self.at_local(day + dt.timedelta(1), 0)

    def next_hour(self, hour: int) -> int:
        """The next moment (after now, or now within that hour) the local clock shows `hour`."""
        loc = self.local(self.now_us)
        if loc.hour == hour:
            return self.now_us
        day = loc.date() if hour > loc.hour else loc.date() + dt.timedelta(1)
        return self.at_local(day, hour * 60)


def open_moment(
    at: dt.datetime, purpose: str, settings: Settings, exempt: bool = False
) -> dt.datetime:
    """The first moment at or after `at` outside the holidays and quiet hours that apply to
    `purpose` (none for an `exempt` medical-safety send)."""
    clock = _Clock(at, settings)
    us = clock.open_from(clock.now_us, purpose, exempt)
    return dt.datetime.fromtimestamp(us / _US, dt.UTC)


def _hhmm(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def _to_us(t: dt.datetime) -> int:
    return round(t.timestamp() * _US)


def _group_rank(groups: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rank (0, 1, …) of each of `rows` (already in priority order) within its group."""
    g = groups[rows]
    o = np.argsort(g, kind="stable")
    g2 = g[o]
    n = len(g2)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    start = np.ones(n, dtype=bool)
    start[1:] = g2[1:] != g2[:-1]
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(start, pos, 0))
    rank = np.empty(n, dtype=np.int64)
    rank[o] = pos - first
    return rank


def _count(keys: np.ndarray, weights: np.ndarray, lookup: np.ndarray) -> np.ndarray:
    """Sum of `weights` per key, read at `lookup` keys (0 for absent keys)."""
    if len(keys) == 0:
        return np.zeros(len(lookup), dtype=np.int64)
    uniq, inv = np.unique(keys, return_inverse=True)
    sums = np.bincount(inv, weights=weights, minlength=len(uniq)).astype(np.int64)
    pos = np.searchsorted(uniq, lookup)
    pos = np.minimum(pos, len(uniq) - 1)
    return np.where(uniq[pos] == lookup, sums[pos], 0)


def _latest_consent(consents: pa.Table | None, users: pa.Array, n_users: int) -> dict:
    """Per (channel, purpose) code present in `consents` (`all` included), the latest
    decision key of each patient (-1: none): ts_us × 2 + withdrawn, so a max picks the latest
    row and a tie withdraws. Dense arrays over the batch's patients: gathers, not searches."""
    if consents is None or consents.num_rows == 0:
        return {}
    u = _index(consents["user_id"], users)
    keep = u >= 0
    ch = _codes(consents["channel"], (*CHANNELS, "all"), "consents.channel")
    pu = _codes(consents["purpose"], (*PURPOSES, "all"), "consents.purpose")
    granted = pc.fill_null(consents["granted"].cast(pa.bool_()), False).to_numpy(
        zero_copy_only=False
    )
    key = _us(consents["ts"]) * 2 + (~granted).astype(np.int64)
    combo = ch * 4 + pu
    out: dict[int, np.ndarray] = {}
    for code in np.unique(combo[keep]):
        m = keep & (combo == code)
        latest = np.full(n_users, -1, dtype=np.int64)
        np.maximum.at(latest, u[m], key[m])
        out[int(code)] = latest
    return out


def decide(
    candidates: pa.Table,
    now: dt.datetime,
    *,
    profiles: pa.Table | None = None,
    consents: pa.Table | None = None,
    history: pa.Table | None = None,
    journey_caps: dict[str, Caps] | None = None,
    settings: Settings | None = None,
) -> pa.Table:
    """Decide every candidate send at `now` (see the module docstring).

    candidates: candidate_id, user_id, journey, step, purpose (medical|service|marketing),
    channel (auto or one of CHANNELS), due_at (timestamp); optional medical_safety (bool).
    profiles: user_id, optional age (int), usual_active_hour (int 0–23) and one bool column per
    channel (bound or not); a patient without a profile row is taken as reachable on every
    channel, age and active hour unknown. consents: the canonical table's rows. history: the
    sends already made: user_id, journey, purpose, sent_at. Returns DECISION_SCHEMA rows in the
    order of `candidates`.
    """
    from careops.config import get_settings
    from careops.experiments.assign import in_global_control

    settings = settings or get_settings()
    js = settings.journeys
    if now.tzinfo is None:
        raise InvalidInput("now 需要时区 / now must carry a time zone")
    missing = [c for c in CANDIDATE_COLUMNS if c not in candidates.column_names]
    if missing:
        raise InvalidInput(f"候选缺少列 / candidates lack columns: {', '.join(missing)}")
    n = candidates.num_rows
    clock = _Clock(now, settings)
    now_us = clock.now_us

    user_col = candidates["user_id"]
    if pc.any(pc.is_null(user_col)).as_py():
        raise InvalidInput("user_id 不能为空 / user_id must not be empty")
    encoded = pc.dictionary_encode(user_col).combine_chunks()
    users: pa.Array = encoded.dictionary
    uidx = encoded.indices.to_numpy(zero_copy_only=False).astype(np.int64)
    n_users = len(users)
    purpose = _codes(candidates["purpose"], PURPOSES, "purpose")
    chan_req = _codes(candidates["channel"], (*CHANNELS, "auto"), "channel")
    due = _us(candidates["due_at"])
    safety = (
        pc.fill_null(candidates["medical_safety"], False).to_numpy(zero_copy_only=False)
        if "medical_safety" in candidates.column_names
        else np.zeros(n, dtype=bool)
    ) & (purpose == 0)

    decision = np.full(n, _SEND, dtype=np.int8)
    reason = np.zeros(n, dtype=np.int8)
    until = np.full(n, _NO, dtype=np.int64)
    pending = np.ones(n, dtype=bool)

    def settle(mask: np.ndarray, what: int, why: str, when: np.ndarray | int | None = None) -> None:
        m = mask & pending
        decision[m] = what
        reason[m] = _R[why]
        if when is not None:
            until[m] = when[m] if isinstance(when, np.ndarray) else when
        pending[m] = False

    settle(due > now_us, _DEFER, "not_due", due)

    # ---- person: age, active hour, bound channels
    age = np.full(n_users, -1, dtype=np.int64)
    hour = np.full(n_users, -1, dtype=np.int64)
    bound = np.ones((n_users, len(CHANNELS)), dtype=bool)
    if profiles is not None and profiles.num_rows:
        p = _index(profiles["user_id"], users)
        ok = p >= 0
        if "age" in profiles.column_names:
            age[p[ok]] = pc.fill_null(profiles["age"].cast(pa.int64()), -1).to_numpy(
                zero_copy_only=False
            )[ok]
        if "usual_active_hour" in profiles.column_names:
            h = pc.fill_null(profiles["usual_active_hour"].cast(pa.int64()), -1).to_numpy(
                zero_copy_only=False
            )
            hour[p[ok]] = np.where((h >= 0) & (h <= 23), h, -1)[ok]
        for c, name in enumerate(CHANNELS):
            if name in profiles.column_names:
                bound[p[ok], c] = pc.fill_null(profiles[name], False).to_numpy(
                    zero_copy_only=False
                )[ok]
    elderly = (age >= settings.tags.elderly_min_age)[uidx]

    # ---- consent per channel for each candidate (latest applicable row, `all` covers)
    latest = _latest_consent(consents, users, n_users)
    consent_ok = np.zeros((n, len(CHANNELS)), dtype=bool)
    consent_state = np.zeros((n, len(CHANNELS)), dtype=np.int8)  # 0 none, 1 granted, 2 withdrawn
    for c in range(len(CHANNELS)):
        best = np.full(n, -1, dtype=np.int64)
        for ch in (c, 5):
            for pu in range(4):  # the candidate's purpose, and `all`
                if ch * 4 + pu in latest:
                    hit = latest[ch * 4 + pu][uidx]
                    applies = (purpose == pu) | (pu == 3)
                    best = np.where(applies, np.maximum(best, hit), best)
        decided = best >= 0
        granted = decided & (best % 2 == 0)
        consent_state[:, c] = np.where(granted, 1, np.where(decided, 2, 0))
        consent_ok[:, c] = np.where(purpose == 2, granted, ~(decided & ~granted))

    # ---- channel: requested first, then the person's list; bound and consented
    rank = np.full((n, len(CHANNELS)), 99, dtype=np.int64)
    for lst, who in ((js.elderly_channels, elderly), (js.default_channels, ~elderly)):
        for r, name in enumerate(lst):
            c = CHANNELS.index(name)
            rank[who, c] = np.minimum(rank[who, c], r + 1)
    fixed = chan_req < len(CHANNELS)
    rank[np.flatnonzero(fixed), chan_req[fixed]] = 0
    reachable = bound[uidx] & (rank < 99)
    usable = reachable & consent_ok
    pick = np.argmin(np.where(usable, rank, 999), axis=1)
    pick_reach = np.argmin(np.where(reachable, rank, 999), axis=1)
    has_reach = reachable.any(axis=1)
    has_usable = usable.any(axis=1)
    channel = np.where(has_usable, pick, pick_reach)
    settle(~has_reach, _SUPPRESS, "no_channel")

    # ---- global control: no marketing, ever
    marketing = purpose == 2
    if marketing.any():
        gc_users = np.zeros(n_users, dtype=bool)
        mk_users = np.unique(uidx[marketing & pending])
        if len(mk_users):
            gc_users[mk_users] = in_global_control(
                users.take(pa.array(mk_users)), settings.experiments.global_control_pct
            )
        settle(marketing & gc_users[uidx], _SUPPRESS, "global_control")

    # ---- consent on the best reachable channel
    state_on_pick = consent_state[np.arange(n), channel]
    settle(~has_usable & marketing & (state_on_pick != 2), _SUPPRESS, "no_consent")
    settle(~has_usable, _SUPPRESS, "consent_withdrawn")

    # ---- holidays, quiet hours (the whole batch is decided at one `now`)
    for pu, name in enumerate(PURPOSES):
        end = clock.holiday_end(now_us, name)
        if end is not None:
            m = (purpose == pu) & ~safety
            settle(m, _DEFER, "holiday", _vector_open(clock, np.full(n, end), purpose, safety, m))
    if clock.in_quiet(now_us):
        for pu, name in enumerate(PURPOSES):
            if name in js.quiet_purposes:
                m = (purpose == pu) & ~safety
                settle(
                    m,
                    _DEFER,
                    "quiet_hours",
                    _vector_open(clock, np.full(n, now_us), purpose, safety, m),
                )

    # ---- the usual active hour for marketing
    if js.active_hour:
        qs, qe = clock.quiet
        target = hour.copy()
        if qs != qe:
            open_first, open_last = -(-qe // 60), (qs - 1) // 60  # whole hours in the window
            outside = (target >= 0) & ((target < open_first) | (target > open_last))
            target[outside] = open_last  # night owls: the last open hour (20:00 by default)
        local_hour = clock.local(now_us).hour
        t = target[uidx]
        m = marketing & (t >= 0) & (t != local_hour)
        if m.any():
            nxt = np.array([clock.next_hour(h) if h >= 0 else now_us for h in range(24)] + [now_us])
            when = nxt[np.where(t >= 0, t, 24)]
            settle(m, _DEFER, "active_hour", _vector_open(clock, when, purpose, safety, m))

    # ---- caps, in priority order
    order = np.lexsort((np.arange(n), due, purpose, uidx))
    hist = _history(history, users, now_us, clock)
    tomorrow = clock.day_bounds()[1]
    capped_as = _SUPPRESS if js.capped == "drop" else _DEFER
    later = _vector_open(clock, np.full(n, tomorrow), purpose, safety, np.ones(n, dtype=bool))

    journeys_enc = pc.dictionary_encode(candidates["journey"].cast(pa.string())).combine_chunks()
    jnames = journeys_enc.dictionary
    jidx = pc.fill_null(journeys_enc.indices, -1).to_numpy(zero_copy_only=False).astype(np.int64)
    defaults = Caps(js.journey_caps.per_day, js.journey_caps.per_7_days)
    jcaps = [(journey_caps or {}).get(str(name), defaults) for name in jnames.to_pylist()]
    jday = np.array([c.per_day if c.per_day is not None else -1 for c in jcaps] + [-1])[jidx]
    jweek = np.array([c.per_7_days if c.per_7_days is not None else -1 for c in jcaps] + [-1])[jidx]
    jgroup = uidx * (len(jnames) + 1) + jidx
    hist_j = hist["u"] * (len(jnames) + 1) + _index(hist["journey"], jnames) if hist else None

    def cap_step(group, limit, hist_keys, hist_weights, why) -> None:
        go = pending & (limit >= 0)
        if not go.any():
            return
        rows = order[go[order]]
        used = _count(hist_keys, hist_weights, group[rows]) if hist_keys is not None else 0
        over = np.zeros(n, dtype=bool)
        over[rows] = (used + _group_rank(group, rows)) >= limit[rows]
        settle(over, capped_as, why, later if capped_as == _DEFER else None)

    not_medical = purpose != 0
    cap_step(
        jgroup,
        np.where(not_medical, jday, -1),
        hist_j if hist else None,
        hist["today"] if hist else None,
        "journey_cap_day",
    )
    cap_step(
        jgroup,
        np.where(not_medical, jweek, -1),
        hist_j if hist else None,
        hist["week"] if hist else None,
        "journey_cap_7_days",
    )
    day_limit = np.array([_lim(js.caps.get(p), "per_day") for p in PURPOSES])[purpose]
    week_limit = np.array([_lim(js.caps.get(p), "per_7_days") for p in PURPOSES])[purpose]
    pgroup = uidx * 3 + purpose
    hist_p = hist["u"] * 3 + hist["purpose"] if hist else None
    cap_step(pgroup, day_limit, hist_p, hist["today"] if hist else None, "cap_day")
    cap_step(pgroup, week_limit, hist_p, hist["week"] if hist else None, "cap_7_days")

    # ---- one slot per patient for non-medical sends
    slot = pending & not_medical
    if slot.any():
        rows = order[slot[order]]
        over = np.zeros(n, dtype=bool)
        over[rows] = _group_rank(uidx, rows) >= js.per_slot
        when = _vector_open(
            clock, np.full(n, now_us + js.slot_minutes * 60 * _US), purpose, safety, over
        )
        settle(over, _DEFER, "slot_taken", when)

    return pa.table(
        {
            "candidate_id": candidates["candidate_id"],
            "user_id": user_col,
            "journey": candidates["journey"],
            "step": candidates["step"],
            "purpose": candidates["purpose"],
            "channel": pa.array(np.array(CHANNELS, dtype=object)[channel], pa.string()),
            "decision": pa.array(np.array(DECISIONS, dtype=object)[decision], pa.string()),
            "until": pa.array(np.where(until == _NO, 0, until), pa.int64(), mask=until == _NO).cast(
                pa.timestamp("us", tz="UTC")
            ),
            "reason": pa.array(np.array(REASONS, dtype=object)[reason], pa.string()),
        },
        schema=DECISION_SCHEMA,
    )


def _lim(caps: Any, name: str) -> int:
    value = getattr(caps, name, None) if caps is not None else None
    return -1 if value is None else int(value)


def _vector_open(
    clock: _Clock, when: np.ndarray, purpose: np.ndarray, safety: np.ndarray, mask: np.ndarray
) -> np.ndarray:
    """`clock.open_from` over the rows of `mask` (few distinct values: computed once each)."""
    out = when.copy()
    if not mask.any():
        return out
    combo = when[mask] * 8 + purpose[mask] * 2 + safety[mask].astype(np.int64)
    uniq, inv = np.unique(combo, return_inverse=True)
    opened = np.array(
        [clock.open_from(int(c // 8), PURPOSES[int(c % 8) // 2], bool(c % 2)) for c in uniq],
        dtype=np.int64,
    )
    out[mask] = opened[inv.reshape(-1)]
    return out


def _history(history: pa.Table | None, users: pa.Array, now_us: int, clock: _Clock) -> dict | None:
    """Sends already made by the batch's patients: per row its patient index, purpose code,
    journey, and whether it counts for today (hospital time) and for the rolling 7 days."""
    if history is None or history.num_rows == 0:
        return None
    u = _index(history["user_id"], users)
    keep = u >= 0
    h = history.filter(pa.array(keep))
    sent = _us(h["sent_at"])
    start, _ = clock.day_bounds()
    return {
        "u": u[keep],
        "purpose": _codes(h["purpose"], PURPOSES, "history.purpose"),
        "journey": h["journey"].cast(pa.string()),
        "today": ((sent >= start) & (sent <= now_us)).astype(np.int64),
        "week": ((sent > now_us - 7 * _DAY) & (sent <= now_us)).astype(np.int64),
    }
