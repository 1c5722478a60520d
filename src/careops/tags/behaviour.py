"""Dynamic behaviour tags: recency, frequency, search keywords, time-of-day habits."""

from __future__ import annotations

from careops.tags.registry import Scope, tag


@tag(
    "last_consult_at",
    "最近问诊时间",
    "Last consultation",
    "dynamic",
    "timestamp",
    "Start time (UTC) of the latest consultation before as-of",
)
def last_consult_at(s: Scope):
    return s.col("co.last_at").cast("timestamp")


@tag(
    "consults_30d",
    "近30天问诊次数",
    "Consultations, 30 days",
    "dynamic",
    "int",
    "Consultations in the 30 days before as-of",
)
def consults_30d(s: Scope):
    return s.col("co.n30").fill_null(0)


@tag(
    "consults_90d",
    "近90天问诊次数",
    "Consultations, 90 days",
    "dynamic",
    "int",
    "Consultations in the 90 days before as-of",
)
def consults_90d(s: Scope):
    return s.col("co.n90").fill_null(0)


@tag(
    "orders_30d",
    "近30天订单数",
    "Paid orders, 30 days",
    "dynamic",
    "int",
    "Paid orders in the 30 days before as-of",
)
def orders_30d(s: Scope):
    return s.col("od.n30").fill_null(0)


@tag(
    "orders_90d",
    "近90天订单数",
    "Paid orders, 90 days",
    "dynamic",
    "int",
    "Paid orders in the 90 days before as-of",
)
def orders_90d(s: Scope):
    return s.col("od.n90").fill_null(0)


@tag(
    "search_keywords",
    "近期搜索关键词",
    "Recent search keywords",
    "dynamic",
    "string",
    "Most frequent jieba tokens of searches in the last tags.keyword_days days, comma-joined",
)
def search_keywords(s: Scope):
    return s.col("kw.keywords")


@tag(
    "usual_active_hour",
    "常用活跃时段",
    "Usual active hour",
    "dynamic",
    "int",
    "Local hour (0–23) with most events in the habit window; ties → the earlier hour",
)
def usual_active_hour(s: Scope):
    return s.col("hour.usual").cast("int64")


@tag(
    "night_owl",
    "夜猫子",
    "Night owl",
    "dynamic",
    "bool",
    "At least tags.night_min_share of the habit window's events fall in the night hours",
)
def night_owl(s: Scope):
    total = s.col("ev.habit").fill_null(0)
    night = s.col("ev.night").fill_null(0)
    share = night.cast("float64") / total.nullif(0).cast("float64")
    return (total > 0) & (share.fill_null(0.0) >= s.settings.tags.night_min_share)


@tag(
    "active_days_30d",
    "近30天活跃天数",
    "Active days, 30 days",
    "dynamic",
    "int",
    "Hospital-local days with an event, consultation or order in the active window",
)
def active_days(s: Scope):
    return s.col("act.days_window").fill_null(0)


@tag(
    "services_30d",
    "近30天服务次数",
    "Services, 30 days",
    "dynamic",
    "int",
    "Consultations, paid orders and entitlement uses in the active window",
)
def services(s: Scope):
    return (
        s.col("co.n_window").fill_null(0)
        + s.col("od.n_window").fill_null(0)
        + s.col("pk.uses_window").fill_null(0)
    )


@tag(
    "last_active_day",
    "最近活跃日",
    "Last active day",
    "dynamic",
    "date",
    "Latest active day before as-of; the registration day if there is none later",
)
def last_active_day(s: Scope):
    reg = s.ctx.local_day(s.wide.registered_at)
    last = s.col("act.last_day").fill_null(reg)
    return (last > reg).ifelse(last, reg)


@tag(
    "inactive_days",
    "未活跃天数",
    "Inactive days",
    "dynamic",
    "int",
    "Whole days between the last active day and as-of (active yesterday = 0)",
)
def inactive_days(s: Scope):
    return s.ctx.days_without(s.tag("last_active_day")).cast("int64")


def _activation_values() -> tuple[tuple[str, str, str], ...]:
    from careops.care.packages import ACTIVATION_STATES

    return ACTIVATION_STATES


@tag(
    "package_activation",
    "服务包激活状态",
    "Package activation",
    "dynamic",
    "category",
    "For a patient with a service package inside its 90-day activation window: behind (short "
    "of 5 uses and behind an even pace), on_pace (short, on pace) or activated (5 uses reached)",
    values=_activation_values(),
)
def package_activation(s: Scope):
    return s.col("pa.state")


@tag(
    "package_uses_short",
    "激活期还差次数",
    "Activation uses short",
    "dynamic",
    "int",
    "Uses still short of the activation goal in the 90-day window (the most of the patient's "
    "enrolments in their window); 0 when activated, null without such an enrolment",
)
def package_uses_short(s: Scope):
    return s.col("pa.short")
