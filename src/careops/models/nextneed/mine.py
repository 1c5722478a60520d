"""Facts, mined association rules and needs per patient, as of a date (facts before it only).

Facts: `order:SKU` (paid orders), `dept:科室` (consultations), `dx:ICD` (consultation
diagnoses), `cond:ICD` (recorded conditions), each with its first and last time per patient.

Mined rules A → B (sequential association rules, Agrawal & Srikant's measures on "B follows A
within W days", W = `nextneed_window_days`), diagnoses and conditions at ICD-10 category level
(3 characters). Only patients whose first A is at least W days before the cut-off count for A
(their whole window is observed, so confidence is not biased low by censoring):
- n(A): such patients; n(A→B): those of them whose first B came after their first A, within W;
- support = n(A→B) / N (N: patients with any fact before the cut-off − W);
- confidence = n(A→B) / n(A); lift = confidence / P(B), P(B) = patients with B / patients
  with any fact, before the cut-off.
Kept when n(A→B) ≥ `nextneed_min_users`, confidence ≥ `nextneed_min_confidence`, lift ≥
`nextneed_min_lift`. Consequents are actions a hospital can offer: an order of a catalogue item
that is not a drug and not the consultation fee itself, or a consultation in a department;
the consultation fee is no antecedent either (its department is).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

import ibis
import pyarrow as pa
from ibis.backends import BaseBackend

from careops.asof import AsOf
from careops.config import Settings
from careops.models.nextneed.rules import NeedRule, NeedRules

SOURCES = {
    "orders": "ts",
    "consultations": "started_at",
    "conditions": "onset_at",
}


def facts(con: BaseBackend, as_of: dt.date, settings: Settings, *, category: bool = False):
    """Ibis table (user_id, code, first_ts, last_ts): every fact kind of the module docstring,
    before `as_of`; with `category` diagnoses and conditions cut to 3 characters."""
    a = AsOf(con, as_of, settings)
    o = a.facts("orders", "ts")
    o = o.filter((o.status == "paid") & o.sku.notnull()).select(
        "user_id", code="order:" + o.sku, ts=o.ts
    )
    c = a.facts("consultations", "started_at")
    dept = c.filter(c.department.notnull()).select(
        "user_id", code="dept:" + c.department, ts=c.started_at
    )
    dx_code = c.diagnosis_code.upper().strip()
    dx = c.filter(c.diagnosis_code.notnull()).select(
        "user_id", code="dx:" + (dx_code.substr(0, 3) if category else dx_code), ts=c.started_at
    )
    k = a.facts("conditions", "onset_at")
    k = k.filter(k.code.notnull() & (k.system.lower() == "icd10"))
    if "status" in k.columns:
        k = k.filter(k.status.isnull() | (k.status.lower() == "active"))
    kc = k.code.upper().strip()
    cond = k.select("user_id", code="cond:" + (kc.substr(0, 3) if category else kc), ts=k.onset_at)
    parts = [p.mutate(ts=p.ts.cast(dt_utc())) for p in (o, dept, dx, cond)]
    u = parts[0].union(parts[1]).union(parts[2]).union(parts[3])
    return u.group_by(["user_id", "code"]).aggregate(first_ts=u.ts.min(), last_ts=u.ts.max())


def dt_utc():
    import ibis.expr.datatypes as idt

    return idt.Timestamp(timezone="UTC")


@dataclass(frozen=True)
class MinedRule:
    antecedent: str
    consequent: str
    users: int
    support: float
    confidence: float
    lift: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def actionable(code: str) -> bool:
    """A consequent a hospital can offer: a non-drug order other than the consultation fee, or
    a consultation in a department."""
    if code.startswith("dept:"):
        return True
    return (
        code.startswith("order:")
        and not code.startswith("order:DRUG-")
        and not code.startswith("order:SVC-CONSULT")
    )


def mine(con: BaseBackend, as_of: dt.date, settings: Settings) -> tuple[list[MinedRule], dict]:
    """Association rules learned from facts before `as_of` (see the module docstring)."""
    m = settings.models
    window = m.nextneed_window_days
    f = facts(con, as_of, settings, category=True)
    limit = AsOf(con, as_of, settings).utc(as_of - dt.timedelta(days=window))
    lim = ibis.literal(limit, type=dt_utc())
    early = f.filter(f.first_ts < lim)
    n_all = int(f.user_id.nunique().to_pyarrow().as_py() or 0)
    n_early = int(early.user_id.nunique().to_pyarrow().as_py() or 0)
    stats = {"patients": n_all, "patients_observed_window": n_early, "window_days": window}
    if n_all == 0 or n_early == 0:
        return [], stats
    a = early.select(ua="user_id", ca="code", ta="first_ts")
    b = f.select(ub="user_id", cb="code", tb="first_ts")
    pairs = a.join(b, a.ua == b.ub).filter(
        (b.tb > a.ta) & (b.tb <= a.ta + ibis.interval(days=window)) & (a.ca != b.cb)
    )
    counts = pairs.group_by(["ca", "cb"]).aggregate(n=pairs.ua.nunique())
    counts = counts.filter(counts.n >= m.nextneed_min_users).to_pyarrow().to_pylist()
    n_a = {
        r["code"]: r["n"]
        for r in early.group_by("code")
        .aggregate(n=early.user_id.nunique())
        .to_pyarrow()
        .to_pylist()
    }
    n_b = {
        r["code"]: r["n"]
        for r in f.group_by("code").aggregate(n=f.user_id.nunique()).to_pyarrow().to_pylist()
    }
    rules = []
    for r in counts:
        if not actionable(r["cb"]) or r["ca"].startswith("order:SVC-CONSULT"):
            continue
        conf = r["n"] / n_a[r["ca"]]
        lift = conf / (n_b[r["cb"]] / n_all)
        if conf >= m.nextneed_min_confidence and lift >= m.nextneed_min_lift:
            rules.append(
                MinedRule(
                    r["ca"],
                    r["cb"],
                    int(r["n"]),
                    round(r["n"] / n_early, 6),
                    round(conf, 6),
                    round(lift, 4),
                )
            )
    rules.sort(key=lambda x: (-x.confidence, -x.lift, x.antecedent, x.consequent))
    return rules, stats


@dataclass(frozen=True)
class Need:
    need: str  # a rule's need code, or the mined consequent (order:SKU, dept:科室)
    label: str
    reason: str
    source: str  # rule or mined
    score: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _matches(kind: str, value: str, code: str) -> bool:
    k, _, v = code.partition(":")
    if k != kind:
        return False
    if kind in ("dx", "cond"):
        return v == value or v.startswith(value + ".") or (len(value) <= 3 and v[:3] == value)
    return v == value


def category(code: str) -> str:
    """A fact code at the level rules are mined at (ICD-10 category for dx and cond)."""
    kind, _, v = code.partition(":")
    return f"{kind}:{v[:3]}" if kind in ("dx", "cond") else code


def fact_label(code: str, names: dict[str, str]) -> str:
    kind, _, v = code.partition(":")
    if kind == "order":
        return f"购买过{names.get(v, v)}"
    if kind == "dept":
        return f"在{v}问诊过"
    if kind == "dx":
        return f"问诊诊断为 {v}"
    return f"记录有 {v}"


def need_label(code: str, names: dict[str, str]) -> str:
    kind, _, v = code.partition(":")
    return names.get(v, v) if kind == "order" else f"{v}问诊"


def needs_for(
    user_facts: list[tuple[str, dt.datetime, dt.datetime]],
    cutoff: dt.datetime,
    rules: NeedRules,
    mined: list[MinedRule],
    window_days: int,
    names: dict[str, str],
) -> list[Need]:
    """The needs of one patient from their facts (code, first, last), best first: written
    rules by priority, then mined rules by confidence."""
    out: list[Need] = []
    for rule in rules.rules:
        hit = _fired(rule, user_facts, cutoff)
        if hit is not None:
            out.append(
                Need(rule.need, rule.label, fact_label(hit, names), "rule", 100.0 + rule.priority)
            )
    have = {c for c, _, _ in user_facts}
    since = cutoff - dt.timedelta(days=window_days)
    recent = {category(c) for c, _, last in user_facts if last >= since}
    seen_need = {n.need for n in out}
    for r in mined:
        if r.antecedent in recent and r.consequent not in have:
            if r.consequent in seen_need:
                continue
            seen_need.add(r.consequent)
            out.append(
                Need(
                    r.consequent,
                    need_label(r.consequent, names),
                    f"{fact_label(r.antecedent, names)} (置信度 {r.confidence:.0%}, 提升 "
                    f"{r.lift:.1f})",
                    "mined",
                    r.confidence,
                )
            )
    out.sort(key=lambda n: -n.score)
    return out


def _fired(rule: NeedRule, user_facts, cutoff: dt.datetime) -> str | None:
    """The fact that fires `rule`, or None."""
    trigger = None
    for kind, value in rule.when.codes():
        for code, _first, last in user_facts:
            if not _matches(kind, value, code):
                continue
            stale = rule.within_days is not None and last < cutoff - dt.timedelta(
                days=rule.within_days
            )
            if kind != "cond" and stale:
                continue
            if trigger is None or last > trigger[1]:
                trigger = (code, last)
    if trigger is None:
        return None
    for facts_, after in ((rule.unless, True), (rule.unless_ever, False)):
        if facts_ is None:
            continue
        for kind, value in facts_.codes():
            for code, _first, last in user_facts:
                if _matches(kind, value, code) and (not after or last > trigger[1]):
                    return None
    return trigger[0]


def facts_by_user(table: pa.Table) -> dict[str, list[tuple[str, dt.datetime, dt.datetime]]]:
    out: dict[str, list] = {}
    cols = [table.column(n).to_pylist() for n in ("user_id", "code", "first_ts", "last_ts")]
    for u, c, f, last in zip(*cols, strict=True):
        out.setdefault(u, []).append((c, f, last))
    return out
