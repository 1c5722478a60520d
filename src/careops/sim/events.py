"""App events: sessions on each active day, with searches, views, shares and invites whose
properties follow the day's health concern (the department of the episode or of the persona)."""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from careops.sim import arrow_util as au
from careops.sim import people, vocab
from careops.sim.clinical import Parts
from careops.sim.context import Chunk

NAMES = ("app_open", "search", "view_content", "view_doctor", "share", "invite")
BROWSE_P = np.array([0.26, 0.44, 0.26, 0.04])  # search, view_content, view_doctor, share
DEPTS = vocab.DEPARTMENT_NAMES


class Props:
    """Every possible `properties` JSON text but invites', addressable by integer."""

    def __init__(self, doctor_ids: np.ndarray) -> None:
        texts: list[str | None] = [None]
        self.q_off, self.q_cnt = [], []
        for d in DEPTS:
            qs = vocab.DEPARTMENTS[d].queries + vocab.GENERIC_QUERIES[:1]
            self.q_off.append(len(texts))
            self.q_cnt.append(len(qs))
            texts += [vocab.json_text({"query": q}) for q in qs]
        items = vocab.content_items()
        self.c_base = len(texts)
        texts += [vocab.json_text({"content_id": c, "topic": t}) for c, t in items]
        self.topic_of_dept = np.array(
            [vocab.TOPICS.index(vocab.DEPARTMENTS[d].topic) for d in DEPTS]
        )
        self.d_base = len(texts)
        texts += [vocab.json_text({"doctor_id": str(d)}) for d in doctor_ids]
        self.texts = pa.array(texts, type=pa.string())
        self.q_off_a, self.q_cnt_a = np.array(self.q_off), np.array(self.q_cnt)

    def query(self, rng: np.random.Generator, dept: np.ndarray) -> np.ndarray:
        return self.q_off_a[dept] + (rng.random(len(dept)) * self.q_cnt_a[dept]).astype(np.int64)

    def content(self, rng: np.random.Generator, dept: np.ndarray) -> np.ndarray:
        k = (rng.random(len(dept)) * vocab.CONTENT_PER_TOPIC).astype(np.int64)
        return self.c_base + self.topic_of_dept[dept] * vocab.CONTENT_PER_TOPIC + k


def events(
    ch: Chunk, parts: Parts, props: Props, invites: tuple[np.ndarray, np.ndarray, np.ndarray]
) -> pa.Table:
    """All app events of the chunk, sorted by time; `invites` are the referral sign-ups'
    (invitee, inviter, day), joined by invites nobody takes up (`people.lost_invites`)."""
    cfg, rng, a = ch.cfg, ch.rng, ch.trace.active
    u, t, dept = a["u"], a["t"], a["dept"]
    # sessions per active day, each an app_open followed by browsing
    ns = 1 + rng.poisson(cfg.sessions_per_day - 1, len(u))
    su, st, sd = np.repeat(u, ns), np.repeat(t, ns), np.repeat(dept, ns)
    s_ts = ch.ts(st, ch.sod(su, st))
    ne = 1 + rng.poisson(cfg.events_per_session, len(su))
    eu, et0, ed = np.repeat(su, ne), np.repeat(s_ts, ne), np.repeat(sd, ne)
    k = np.arange(len(eu)) - np.repeat(np.cumsum(ne) - ne, ne)  # position in session
    ets = et0 + (k * 40 + rng.integers(0, 40, len(eu))) * 1_000_000
    day_end = np.repeat(ch.ts(st + 1, np.zeros(len(st))), ne) - 1  # sessions end by midnight
    ets = np.minimum(ets, day_end)
    name = np.where(k == 0, 0, 1 + rng.choice(4, len(eu), p=BROWSE_P))
    prop = np.zeros(len(eu), np.int64)
    for code, fn in ((1, props.query), (2, props.content), (4, props.content)):
        m = name == code
        prop[m] = fn(rng, ed[m])
    m = name == 3
    prop[m] = props.d_base + ch.doctor_in(ed[m])
    # consultation lead-ins (search for the complaint, view the doctor)
    cols_u, cols_ts, cols_name, cols_prop = [eu], [ets], [name], [prop]
    for p in parts.events:
        cols_u.append(p["u"])
        cols_ts.append(p["ts"])
        code = NAMES.index(p["name"])
        cols_name.append(np.full(len(p["u"]), code))
        cols_prop.append(props.query(rng, p["dept"]) if code == 1 else props.d_base + p["doc"])
    uu = np.concatenate(cols_u)
    ts = np.concatenate(cols_ts)
    nm = np.concatenate(cols_name)
    pr = props.texts.take(pa.array(np.concatenate(cols_prop)))
    # invites of referral chains, on the inviter's active day, before the invitee signs up;
    # then the invites nobody takes up, at the time of one of the inviter's events
    invitee, inviter, day = invites
    lost_ids, lost_inviter, lost_ts = people.lost_invites(ch, len(invitee), eu, ets)
    sent = [
        (ch.uid(invitee), inviter, ch.ts(day, ch.sod(inviter, day)) if len(invitee) else None),
        (lost_ids, lost_inviter, lost_ts),
    ]
    for ids, who, its in sent:
        if len(ids):
            inv_props = pa.compute.binary_join_element_wise('{"invitee_id": "', ids, '"}', "")
            uu = np.concatenate([uu, who])
            ts = np.concatenate([ts, its])
            nm = np.concatenate([nm, np.full(len(who), NAMES.index("invite"))])
            pr = pa.concat_arrays([pr, inv_props.cast(pa.string())])
    ts = np.minimum(ts, ch.end_us - 1)
    order = np.argsort(ts, kind="stable")
    return au.table(
        "events",
        {
            "event_id": ch.ids("E", len(uu)),
            "user_id": ch.uid(uu[order]),
            "ts": au.ts_array(ts[order]),
            "name": au.take(NAMES, nm[order]),
            "properties": pr.take(pa.array(order)),
        },
    )
