"""Static profile tags: age, age band, sex, region, registration age, family / proxy."""

from __future__ import annotations

import ibis

from careops.tags.registry import Scope, tag

SEXES = (("M", "男", "Male"), ("F", "女", "Female"), ("U", "未知", "Unknown"))


@tag(
    "age", "年龄", "Age", "static", "int", "Whole years at as-of from birth_date (null if unknown)"
)
def age(s: Scope):
    b = s.wide.birth_date
    d = s.ctx.as_of
    before_birthday = (b.month() > d.month) | ((b.month() == d.month) & (b.day() > d.day))
    return (ibis.literal(d.year) - b.year() - before_birthday.ifelse(1, 0)).cast("int64")


def _band_values(bounds: tuple[int, ...]):
    out = []
    for lo, hi in zip(bounds, (*bounds[1:], None), strict=True):
        code = f"{lo}+" if hi is None else f"{lo}-{hi - 1}"
        zh = f"{lo}岁及以上" if hi is None else f"{lo}-{hi - 1}岁"
        out.append((code, zh, code))
    return (*out, ("unknown", "未知", "Unknown"))


def _age_band(s: Scope):
    a = s.tag("age")
    bounds = s.settings.tags.age_bands
    codes = [v for v, _, _ in _band_values(bounds)]
    expr = ibis.literal("unknown")
    for lo, code in zip(bounds, codes, strict=False):
        expr = (a >= lo).ifelse(code, expr)
    return a.isnull().ifelse("unknown", expr)


def _register_age_band() -> None:
    from careops.config import get_settings
    from careops.tags.registry import Tag, register

    register(
        Tag(
            "age_band",
            "年龄段",
            "Age band",
            "static",
            "category",
            "Age band at as-of; bounds from settings tags.age_bands",
            _age_band,
            _band_values(get_settings().tags.age_bands),
        )
    )


_register_age_band()


@tag("sex", "性别", "Sex", "static", "category", "Registered sex (M/F/U)", values=SEXES)
def sex(s: Scope):
    return s.wide.sex.fill_null("U")


@tag("region", "地区", "Region", "static", "string", "Registered region")
def region(s: Scope):
    return s.wide.region


@tag(
    "registered_days",
    "注册天数",
    "Days since registration",
    "static",
    "int",
    "Calendar days from the registration day (hospital time) to as-of; yesterday = 1",
)
def registered_days(s: Scope):
    return s.ctx.days_since(s.ctx.local_day(s.wide.registered_at)).cast("int64")


@tag(
    "managed_by",
    "代管账号",
    "Managed by",
    "static",
    "string",
    "The family account that manages this patient (patients.managed_by)",
)
def managed_by(s: Scope):
    return s.wide.managed_by


@tag(
    "proxy_managed",
    "家属代管",
    "Managed by family",
    "static",
    "bool",
    "This patient's account is managed by a family member (proxy registration)",
)
def proxy_managed(s: Scope):
    return s.wide.managed_by.notnull()


@tag(
    "family_manager",
    "家庭账号管理者",
    "Family account manager",
    "static",
    "bool",
    "This patient manages at least one family member's account",
)
def family_manager(s: Scope):
    return s.col("fam.manages").fill_null(0) > 0
