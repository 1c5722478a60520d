"""The day-by-day story of one chunk of users, vectorised over users.

Each day, for everyone signed up and not yet stopped: the stop hazard is applied (persona,
time since sign-up, recent complaints, value received, health); health episodes arrive; the
person opens the app or not (latent activity × sign-up excitement × episode boost);
consultations, payments, reply times, complaints, prescriptions and refills, device readings,
package use and renewal happen. The engine records *who did what on which day*; the table
builders turn those records into rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from careops.sim import vocab
from careops.sim.config import SimConfig
from careops.sim.population import CONDITION_CODES, Population, persona_matrix, pick

NONE = np.iinfo(np.int64).max
#: the true driver of a stop (ground truth `churn_driver`), see `stop_driver`
DRIVERS: tuple[str, ...] = ("unknown", "new_user", "service", "payment")
DRIVER_MIN_MULT = 1.5
PACKAGE_IDS: tuple[str, ...] = tuple(vocab.PACKAGES)
DRUG_CODES: tuple[str, ...] = tuple(vocab.DRUGS)


@dataclass
class Records:
    """Growing lists of per-day arrays of one record kind; `cat()` joins them."""

    parts: dict[str, list[np.ndarray]] = field(default_factory=dict)

    def add(self, **cols: np.ndarray | int) -> None:
        n = next(len(v) for v in cols.values() if isinstance(v, np.ndarray))
        for k, v in cols.items():
            arr = v if isinstance(v, np.ndarray) else np.full(n, v, dtype=np.int64)
            self.parts.setdefault(k, []).append(arr)

    def cat(self) -> dict[str, np.ndarray]:
        return {
            k: np.concatenate(v) if v else np.array([], dtype=np.int64)
            for k, v in self.parts.items()
        }


@dataclass
class Trace:
    """Everything that happened to one chunk inside the window, plus end-of-window state."""

    active: dict[str, np.ndarray]  # u, t, dept
    consults: dict[str, np.ndarray]  # u, t, dept, followup, late, reply_s, failed, rating, rx...
    devices: dict[str, np.ndarray]  # u, t, kind (0 = BP, 1 = glucose)
    measures: dict[str, np.ndarray]  # u, t, kind, crisis
    refills: dict[str, np.ndarray]  # u, t, drug
    checkups: dict[str, np.ndarray]  # u, t
    enrollments: dict[str, np.ndarray]  # u, t, pkg, price, renewal_of, eid
    usage: dict[str, np.ndarray]  # u, t, eid
    nps: dict[str, np.ndarray]  # u, t, score
    questions: dict[str, np.ndarray]  # u, t
    stop_day: np.ndarray  # day stopped inside the window or NONE
    hazard_end: np.ndarray  # daily stop hazard at the window end (no new shocks)
    complaint_score: np.ndarray
    value_score: np.ndarray
    complaint_late_score: np.ndarray  # the part of complaint_score from late replies
    driver: np.ndarray  # index into DRIVERS of the stop's true driver (0 while not stopped)
    enrolled_pkg: np.ndarray  # package index or -1 at the end
    enrolled_until: np.ndarray  # day the enrolment in force at the end ends, or -1
    device_kind: np.ndarray  # -1 none, 0 BP, 1 glucose
    refill_drug: np.ndarray  # drug index or -1


def _persona_array(cfg: SimConfig, name: str, persona: np.ndarray) -> np.ndarray:
    return np.array([getattr(p, name) for p in cfg.personas.values()], dtype=float)[persona]


def base_hazard(cfg: SimConfig, pop: Population, age_days: np.ndarray) -> np.ndarray:
    """Daily stop hazard from persona and time since sign-up, before experience effects."""
    early = _persona_array(cfg, "hazard_early", pop.persona)
    late = _persona_array(cfg, "hazard_late", pop.persona)
    h = late + (early - late) * np.exp(-np.maximum(age_days, 0) / cfg.hazard_days)
    h = h * pop.hazard_mult
    return np.where(pop.poor_control, h * cfg.poor_control_hazard_mult, h)


def experience_factor(cfg: SimConfig, complaint: np.ndarray, value: np.ndarray) -> np.ndarray:
    """Hazard multiplier from recent complaints (up) and value received (down)."""
    return cfg.complaint_hazard_mult ** np.minimum(
        complaint, 3.0
    ) * cfg.value_hazard_mult ** np.minimum(value, 3.0)


def stop_driver(
    cfg: SimConfig,
    persona: np.ndarray,
    age_days: np.ndarray,
    complaint: np.ndarray,
    complaint_late: np.ndarray,
) -> np.ndarray:
    """Why a person stopping now stops: the factor raising their hazard the most above their
    own settled hazard (persona × personal multiplier), as an index into `DRIVERS`.

    The hazard is a product, so its log splits into parts: the new-user factor
    `base(age) / late` (`new_user`) and the complaint factor `complaint_mult ** min(c, 3)`,
    shared between late-reply complaints (`service`) and payment-failure complaints
    (`payment`) in proportion to their decayed scores. The largest part names the driver when
    it multiplies the hazard by at least `DRIVER_MIN_MULT`; otherwise `unknown` (the person's
    own base rate: nothing identifiable happened). Value received and enrolment only lower the
    hazard, so they are never a driver. Draws no random numbers."""
    early = _persona_array(cfg, "hazard_early", persona)
    late = _persona_array(cfg, "hazard_late", persona)
    new_user = np.log1p((early - late) / late * np.exp(-np.maximum(age_days, 0) / cfg.hazard_days))
    total = np.log(cfg.complaint_hazard_mult) * np.minimum(complaint, 3.0)
    share = np.divide(complaint_late, complaint, out=np.zeros_like(complaint), where=complaint > 0)
    parts = np.column_stack([new_user, total * share, total * (1 - share)])
    best = parts.argmax(axis=1)
    strong = parts.max(axis=1) >= np.log(DRIVER_MIN_MULT)
    return np.where(strong, best + 1, 0)


def run(cfg: SimConfig, pop: Population, rng: np.random.Generator) -> Trace:
    """Simulate every day of the window for one chunk."""
    n, names = pop.n, list(cfg.personas)
    dept_w = persona_matrix(cfg, "departments", vocab.DEPARTMENT_NAMES)
    main_dept = dept_w.argmax(axis=1)[pop.persona]
    novelty = _persona_array(cfg, "novelty", pop.persona)
    consult_p = _persona_array(cfg, "consult_p", pop.persona)
    followup = _persona_array(cfg, "followup_rate", pop.persona)
    device_p = _persona_array(cfg, "device_p", pop.persona)
    package_p = _persona_array(cfg, "package_p", pop.persona)
    checkup_rate = _persona_array(cfg, "checkup_rate", pop.persona)
    pkg_of = np.array(
        [PACKAGE_IDS.index(p.package) if p.package else -1 for p in cfg.personas.values()]
    )[pop.persona]
    has_dm = pop.conditions[:, CONDITION_CODES.index("E11")]
    has_htn = pop.conditions[:, CONDITION_CODES.index("I10")]
    chronic = pop.conditions[:, :3].any(axis=1)
    dm_persona = pop.persona == names.index("diabetes") if "diabetes" in names else has_dm
    want_kind = np.where(has_dm & (dm_persona | ~has_htn), 1, 0)
    chronic_drug_of = np.where(
        want_kind == 1, DRUG_CODES.index("A10BA02"), DRUG_CODES.index("C08CA05")
    )
    one_off = names.index("acute_oneoff") if "acute_oneoff" in names else -1
    nps_base = 8.0 - 1.5 * (pop.persona == one_off)

    alive = np.ones(n, bool)
    stop_day = np.full(n, NONE, dtype=np.int64)
    complaint = np.zeros(n)
    complaint_late = np.zeros(n)
    driver = np.zeros(n, dtype=np.int64)
    value = np.zeros(n)
    boost_until = np.full(n, -1, dtype=np.int64)
    device_kind = np.full(n, -1, dtype=np.int64)
    crisis_start = np.full(n, NONE, dtype=np.int64)
    refill_drug = np.full(n, -1, dtype=np.int64)
    next_refill = np.full(n, NONE, dtype=np.int64)
    refills_left = np.zeros(n, dtype=np.int64)
    pk = Packages(cfg, n, Records())
    enrolled = pk.package
    R = {
        k: Records()
        for k in (
            "active",
            "consults",
            "devices",
            "measures",
            "refills",
            "checkups",
            "usage",
            "nps",
            "questions",
        )
    }
    R["enrollments"] = pk.records

    for t in range(cfg.days):
        age = t - pop.reg_day
        signed = age >= 0
        # stop hazard (not on the sign-up day)
        h = base_hazard(cfg, pop, age) * experience_factor(cfg, complaint, value)
        h = np.where(enrolled >= 0, h * cfg.enrolled_hazard_mult, h)
        in_crisis = (t >= crisis_start) & (t < crisis_start + 4)
        h = np.where(in_crisis, 0.0, h)  # nobody walks away in the middle of a glucose crisis
        stops = alive & (age > 0) & (rng.random(n) < np.minimum(h, 0.9))
        alive &= ~stops
        stop_day[stops] = t
        if stops.any():
            si = np.flatnonzero(stops)
            driver[si] = stop_driver(
                cfg, pop.persona[si], age[si], complaint[si], complaint_late[si]
            )
        present = signed & alive
        complaint *= cfg.memory_decay
        complaint_late *= cfg.memory_decay
        value *= cfg.memory_decay
        # health episodes and chronic follow-ups
        episode = present & (rng.random(n) < pop.episode_rate)
        boost_until[episode] = t + cfg.episode_boost_days
        consult_ep = episode & (rng.random(n) < consult_p)
        consult_fu = present & ~consult_ep & (rng.random(n) < followup)
        consult = consult_ep | consult_fu
        mult = 1.0 + novelty * np.exp(-np.maximum(age, 0) / cfg.novelty_days)
        mult = np.where(boost_until >= t, mult * cfg.episode_boost, mult)
        active = present & ((age == 0) | consult | (rng.random(n) < pop.activity * mult))
        ui = np.flatnonzero(active)
        day_dept = pick(rng, dept_w, pop.persona[ui])
        ci = np.flatnonzero(consult)
        if len(ci):
            cdept = np.where(consult_fu[ci], main_dept[ci], pick(rng, dept_w, pop.persona[ci]))
            pos = np.searchsorted(ui, ci)
            day_dept[pos] = cdept
            late = rng.random(len(ci)) < cfg.late_reply_share
            reply = np.where(
                late,
                rng.uniform(cfg.reply_timeout_s, 4 * 3600, len(ci)),
                rng.lognormal(np.log(90), 0.8, len(ci)).clip(5, cfg.reply_timeout_s),
            )
            failed = rng.random(len(ci)) < cfg.payment_failure_p
            rating = np.where(
                late, rng.integers(1, 4, len(ci)), rng.choice([3, 4, 5], len(ci), p=[0.1, 0.3, 0.6])
            )
            c_late = late & (rng.random(len(ci)) < cfg.late_reply_complaint_p)
            c_fail = failed & (rng.random(len(ci)) < cfg.payment_failure_complaint_p)
            complaint[ci] += c_late + c_fail
            complaint_late[ci] += c_late
            value[ci] += (rating >= 4) * 0.5
            rx_p = np.where(consult_fu[ci], 0.9, cfg.prescription_p)
            rx = rng.random(len(ci)) < rx_p
            rx_chronic = rx & consult_fu[ci] & chronic[ci]
            refill_drug[ci[rx_chronic]] = chronic_drug_of[ci[rx_chronic]]
            next_refill[ci[rx_chronic]] = t + 30
            n_ref = np.where(rx_chronic, rng.integers(1, 6, len(ci)), 0)
            refills_left[ci[rx_chronic]] = n_ref[rx_chronic]
            visit = rng.random(len(ci)) < cfg.offline_visit_p
            R["consults"].add(
                u=ci,
                t=t,
                dept=cdept,
                followup=consult_fu[ci].astype(np.int64),
                late=late.astype(np.int64),
                reply=reply,
                failed=failed.astype(np.int64),
                rating=rating,
                c_late=c_late.astype(np.int64),
                c_fail=c_fail.astype(np.int64),
                rx=rx.astype(np.int64),
                rx_chronic=rx_chronic.astype(np.int64),
                refills=n_ref,
                visit=visit.astype(np.int64),
            )
            # devices
            buy = (device_kind[ci] < 0) & chronic[ci] & (rng.random(len(ci)) < device_p[ci])
            bi = ci[buy]
            device_kind[bi] = want_kind[bi]
            cs = pop.glucose_crisis[bi] & (want_kind[bi] == 1)
            crisis_start[bi[cs]] = t + rng.integers(2, 21, cs.sum())
            if len(bi):
                R["devices"].add(u=bi, t=t, kind=device_kind[bi])
            # packages
            enrol = (enrolled[ci] < 0) & (pkg_of[ci] >= 0) & (rng.random(len(ci)) < package_p[ci])
            ei = ci[enrol]
            if len(ei):
                pk.enrol(ei, t, pkg_of[ei])
        R["active"].add(u=ui, t=t, dept=day_dept)
        # device readings (forced daily during a glucose crisis)
        meas = present & (device_kind >= 0) & (in_crisis | (rng.random(n) < cfg.measure_p))
        mi = np.flatnonzero(meas)
        if len(mi):
            R["measures"].add(
                u=mi, t=t, kind=device_kind[mi], crisis=in_crisis[mi].astype(np.int64)
            )
        # refills of chronic prescriptions
        due = present & (t >= next_refill) & (refills_left > 0)
        ok = due & (
            rng.random(n)
            < np.where(t == next_refill, cfg.refill_adherence, cfg.refill_adherence * 0.2)
        )
        ri = np.flatnonzero(ok)
        if len(ri):
            R["refills"].add(u=ri, t=t, drug=refill_drug[ri])
            refills_left[ri] -= 1
            next_refill[ri] = np.where(refills_left[ri] > 0, t + 30, NONE)
            value[ri] += 0.2
        # check-ups
        ki = np.flatnonzero(active & (rng.random(n) < checkup_rate))
        if len(ki):
            R["checkups"].add(u=ki, t=t)
        # package entitlement use, then expiry and renewal
        use = (
            present
            & (enrolled >= 0)
            & (rng.random(n) < cfg.package_use_p * np.sqrt(pop.activity / 0.05).clip(0.3, 3))
        )
        si = np.flatnonzero(use)
        if len(si):
            R["usage"].add(u=si, t=t, eid=pk.eid[si])
            pk.uses[si] += (t - pk.start[si]) < cfg.activation_days
            value[si] += 0.3
        pk.expire_or_renew(t, present, rng)
        # surveys and questions
        ni = np.flatnonzero(active & (rng.random(n) < cfg.survey_nps_p))
        if len(ni):
            score = np.clip(
                np.round(
                    rng.normal(
                        nps_base[ni]
                        - 2.5 * np.minimum(complaint[ni], 2)
                        + 0.5 * np.minimum(value[ni], 2),
                        1.8,
                    )
                ),
                0,
                10,
            )
            R["nps"].add(u=ni, t=t, score=score.astype(np.int64))
        qi = np.flatnonzero(active & (rng.random(n) < 0.004))
        if len(qi):
            R["questions"].add(u=qi, t=t)

    age_end = cfg.days - pop.reg_day
    hazard_end = base_hazard(cfg, pop, age_end) * experience_factor(cfg, complaint, value)
    hazard_end = np.minimum(
        np.where(enrolled >= 0, hazard_end * cfg.enrolled_hazard_mult, hazard_end), 0.9
    )
    return Trace(
        active=R["active"].cat(),
        consults=R["consults"].cat(),
        devices=R["devices"].cat(),
        measures=R["measures"].cat(),
        refills=R["refills"].cat(),
        checkups=R["checkups"].cat(),
        enrollments=R["enrollments"].cat(),
        usage=R["usage"].cat(),
        nps=R["nps"].cat(),
        questions=R["questions"].cat(),
        stop_day=stop_day,
        hazard_end=hazard_end,
        complaint_score=complaint,
        value_score=value,
        complaint_late_score=complaint_late,
        driver=driver,
        enrolled_pkg=enrolled,
        enrolled_until=np.where(enrolled >= 0, pk.end, -1),
        device_kind=device_kind,
        refill_drug=refill_drug,
    )


class Packages:
    """Who is enrolled in which package, since when, until when, with how many uses."""

    def __init__(self, cfg: SimConfig, n: int, records: Records) -> None:
        self.cfg, self.records, self.next_eid = cfg, records, 0
        self.package = np.full(n, -1, dtype=np.int64)  # package index, -1 = none
        self.eid = np.full(n, -1, dtype=np.int64)
        self.start = np.zeros(n, dtype=np.int64)
        self.end = np.full(n, NONE, dtype=np.int64)
        self.uses = np.zeros(n, dtype=np.int64)  # uses within the activation window
        self.price = np.array([vocab.PACKAGES[p]["price"] for p in PACKAGE_IDS])
        self.launch = np.array([vocab.PACKAGES[p]["launch_price"] for p in PACKAGE_IDS])
        self.days = np.array([vocab.PACKAGES[p]["days"] for p in PACKAGE_IDS])

    def enrol(
        self, who: np.ndarray, t: int, pkg: np.ndarray, renewal_of: np.ndarray | None = None
    ) -> None:
        """Start an enrolment (new, or a renewal of `renewal_of`) for `who` on day t."""
        eids = np.arange(self.next_eid, self.next_eid + len(who))
        self.next_eid += len(who)
        paid = self.launch[pkg] if t < self.cfg.launch_days else self.price[pkg]
        ren = renewal_of if renewal_of is not None else np.full(len(who), -1)
        self.records.add(
            u=who, t=t, pkg=pkg, price=np.asarray(paid, dtype=float), renewal_of=ren, eid=eids
        )
        self.package[who], self.eid[who], self.start[who] = pkg, eids, t
        self.end[who] = t + self.days[pkg]
        self.uses[who] = 0

    def expire_or_renew(self, t: int, present: np.ndarray, rng: np.random.Generator) -> None:
        """Enrolments ending today renew (more likely once activated) or lapse."""
        ending = np.flatnonzero((self.package >= 0) & (self.end == t))
        if not len(ending):
            return
        activated = self.uses[ending] >= self.cfg.activation_uses
        p = np.where(activated, self.cfg.renewal_p_activated, self.cfg.renewal_p_not_activated)
        renew = present[ending] & (rng.random(len(ending)) < p)
        self.package[ending[~renew]] = -1
        who = ending[renew]
        if len(who):
            self.enrol(who, t, self.package[who], renewal_of=self.eid[who].copy())
