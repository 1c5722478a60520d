"""The four layer dimensions (SPEC §3) and the active sub-groups and special groups."""

from __future__ import annotations

import ibis

from careops.tags.registry import Scope, tag

LIFECYCLE = (
    ("new", "新用户", "New"),
    ("active", "活跃用户", "Active"),
    ("occasional", "低频用户", "Occasional"),
    ("silent", "沉默用户", "Silent"),
    ("churned", "流失用户", "Churned"),
)


@tag(
    "lifecycle",
    "生命周期",
    "Lifecycle",
    "dynamic",
    "category",
    "new: registered ≤ lifecycle.new_max_days days ago; churned: > churned_min_days inactive "
    "days; silent: ≥ silent_min_days; active: ≥ active_min_days active days and "
    "≥ active_min_services services in the active window; else occasional",
    values=LIFECYCLE,
    dimension="lifecycle",
)
def lifecycle(s: Scope):
    lc = s.settings.lifecycle
    inactive = s.tag("inactive_days")
    return ibis.cases(
        (s.tag("registered_days") <= lc.new_max_days, "new"),
        (inactive > lc.churned_min_days, "churned"),
        (inactive >= lc.silent_min_days, "silent"),
        (
            (s.tag("active_days_30d") >= lc.active_min_days)
            & (s.tag("services_30d") >= lc.active_min_services),
            "active",
        ),
        else_="occasional",
    )


@tag(
    "churn_risk",
    "流失预警",
    "At risk",
    "dynamic",
    "bool",
    "Early warning: ≥ lifecycle.churn_risk_days inactive days, not yet silent",
)
def churn_risk(s: Scope):
    lc = s.settings.lifecycle
    inactive = s.tag("inactive_days")
    return (
        (s.tag("lifecycle") != "new")
        & (inactive >= lc.churn_risk_days)
        & (inactive < lc.silent_min_days)
    )


NEEDS = (
    ("health_management", "健康管理型", "Health management"),
    ("acute", "急症问诊型", "Acute consultation"),
    ("prevention", "预防保健型", "Prevention"),
    ("medical_resources", "医疗资源型", "Medical resources"),
)


def need_scores(s: Scope) -> dict[str, ibis.Value]:
    """Signals per need in the tags.need_days window (see docs/tags.md)."""
    z = lambda ref: s.col(ref).fill_null(0)  # noqa: E731
    return {
        "acute": z("co.acute_need") + z("ev.acute_need"),
        "health_management": z("ob.need")
        + z("od.health_need")
        + z("co.chronic_need")
        + z("pk.enrolled"),
        "medical_resources": z("od.resource_need")
        + z("co.resource_need")
        + z("en.need")
        + z("ev.resource_need"),
        "prevention": z("ev.prevention_need"),
    }


@tag(
    "health_need",
    "健康需求",
    "Health need",
    "dynamic",
    "category",
    "The need with most signals in tags.need_days (ties: acute, health management, medical "
    "resources, prevention); no signal: health management for chronic patients, else "
    "prevention",
    values=NEEDS,
    dimension="health_need",
)
def health_need(s: Scope):
    scores = need_scores(s)
    order = list(scores)
    cases = []
    for i, name in enumerate(order):
        cond = scores[name] > 0
        for j, other in enumerate(order):
            if j < i:
                cond = cond & (scores[name] > scores[other])
            elif j > i:
                cond = cond & (scores[name] >= scores[other])
        cases.append((cond, name))
    fallback = s.tag("chronic").ifelse("health_management", "prevention")
    return ibis.cases(*cases, else_=fallback)


RICHNESS = (
    ("medical", "医疗数据型", "Medical data"),
    ("behavioral", "行为数据型", "Behavioural data"),
    ("basic", "基础数据型", "Basic data"),
)


@tag(
    "data_richness",
    "数据丰富度",
    "Data richness",
    "dynamic",
    "category",
    "medical: any condition, observation, prescription, encounter or diagnosed consultation; "
    "behavioral: any event, consultation or order; else basic (registration only)",
    values=RICHNESS,
    dimension="data_richness",
)
def data_richness(s: Scope):
    z = lambda ref: s.col(ref).fill_null(0)  # noqa: E731
    medical = (z("cd.total") + z("ob.total") + z("rx.total") + z("en.total") + z("co.with_dx")) > 0
    behavioural = z("act.days_total") > 0
    return ibis.cases((medical, "medical"), (behavioural, "behavioral"), else_="basic")


@tag(
    "frequent_consulter",
    "高频问诊",
    "Frequent consulter",
    "dynamic",
    "bool",
    "Active, with ≥ lifecycle.frequent_consulter_min consultations in the active window",
)
def frequent_consulter(s: Scope):
    return (s.tag("lifecycle") == "active") & (
        s.col("co.n_window").fill_null(0) >= s.settings.lifecycle.frequent_consulter_min
    )


@tag(
    "health_manager",
    "健康管理",
    "Health manager",
    "dynamic",
    "bool",
    "Active, with a device/check-up reading or a service-package use in the active window, "
    "or a running package",
)
def health_manager(s: Scope):
    z = lambda ref: s.col(ref).fill_null(0)  # noqa: E731
    return (s.tag("lifecycle") == "active") & (
        (z("ob.n_window") + z("pk.uses_window") + z("pk.enrolled")) > 0
    )


@tag(
    "interactive",
    "互动参与",
    "Interactive participant",
    "dynamic",
    "bool",
    "Active, with a share, invite, comment, like, post or activity in the active window",
)
def interactive(s: Scope):
    return (s.tag("lifecycle") == "active") & (s.col("ev.interactive_window").fill_null(0) > 0)


SUBGROUPS = (
    ("frequent_consulter", "高频问诊", "Frequent consulter"),
    ("health_manager", "健康管理", "Health manager"),
    ("interactive", "互动参与", "Interactive participant"),
)


@tag(
    "active_subgroup",
    "活跃细分",
    "Active sub-group",
    "dynamic",
    "category",
    "The first matching active sub-group (frequent consulter, health manager, interactive)",
    values=SUBGROUPS,
)
def active_subgroup(s: Scope):
    return ibis.cases(*((s.tag(code), code) for code, _, _ in SUBGROUPS), else_=ibis.null("string"))


@tag("elderly", "老年人", "Elderly", "static", "bool", "Special group: age ≥ tags.elderly_min_age")
def elderly(s: Scope):
    return (s.tag("age") >= s.settings.tags.elderly_min_age).fill_null(False)


@tag("child", "儿童", "Child", "static", "bool", "Special group: age ≤ tags.child_max_age")
def child(s: Scope):
    return (s.tag("age") <= s.settings.tags.child_max_age).fill_null(False)
