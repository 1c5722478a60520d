"""A patient's portrait: all tags of one user as of a date, and a one-line summary."""

from __future__ import annotations

from datetime import UTC, date, timedelta

from ibis.backends import BaseBackend

from careops.config import Settings, get_settings
from careops.tags import codes
from careops.tags.compute import require_patients, tag_frame
from careops.tags.context import TagContext
from careops.tags.errors import TagError
from careops.tags.registry import all_tags, get_tag
from careops.tags.snapshot import tags_at


def user_tags(
    con: BaseBackend, user_id: str, as_of: date, *, settings: Settings | None = None
) -> dict:
    """Every tag of one patient as of a date (from the snapshot when it is current).

    A patient registered on or after as-of has no portrait of that day: the error says when they
    registered. A patient registered before as-of but missing from a stored snapshot (loaded after
    it was computed, without a ledger entry) is computed live, never reported as registered later.
    """
    require_patients(con, as_of, settings)
    t = tags_at(con, as_of, settings=settings)
    rows = t.filter(t.user_id == user_id).to_pyarrow().to_pylist()
    if rows:
        return rows[0]
    p = con.table("patients")
    registered = p.filter(p.user_id == user_id).registered_at.min().to_pyarrow().as_py()
    if registered is None:
        raise TagError(f"仓库中没有患者 {user_id!r} / no patient {user_id!r} in the warehouse")
    ctx = TagContext(con, as_of, settings or get_settings())
    registered = registered if registered.tzinfo else registered.replace(tzinfo=UTC)
    if registered >= ctx.cutoff:
        day = registered.astimezone(ctx.settings.tz).date()
        raise TagError(
            f"患者 {user_id!r} 于 {day} 注册, 晚于统计日 {as_of.isoformat()}, 当日没有画像; 统计日"
            f"请用 {day + timedelta(days=1)} 或更晚 / patient {user_id!r} registered on {day}, "
            f"after as_of {as_of.isoformat()}: no portrait for that day; use an as-of of "
            f"{day + timedelta(days=1)} or later",
            field="as_of",
        )
    live = tag_frame(con, as_of, settings=settings)
    rows = live.filter(live.user_id == user_id).to_pyarrow().to_pylist()
    return rows[0]


def summary(tags: dict, lang: str = "zh") -> str:
    """One line, e.g. "45 岁男性, 30 天未测血压, 高血压史, 沉默用户, 流失风险 85"."""
    zh = lang == "zh"
    parts = []
    sex = {"M": ("男性", "male"), "F": ("女性", "female")}.get(tags.get("sex"), ("", ""))
    age = tags.get("age")
    if age is not None:
        parts.append(f"{age} 岁{sex[0]}" if zh else f"{age}, {sex[1]}".rstrip(", "))
    elif sex[0]:
        parts.append(sex[0] if zh else sex[1])
    for key, zh_text, en_text in (
        ("days_without_bp", "天未测血压", "days without a BP reading"),
        ("days_without_glucose", "天未测血糖", "days without a glucose reading"),
    ):
        days = tags.get(key)
        if days is not None and days >= 30:
            parts.append(f"{days} {zh_text}" if zh else f"{days} {en_text}")
    for c in codes.CHRONIC:
        if tags.get(f"has_{c.code}"):
            parts.append(f"{c.label_zh}史" if zh else f"{c.label_en.lower()} history")
    if tags.get("allergy"):
        parts.append("过敏史" if zh else "allergy")
    lifecycle = tags.get("lifecycle")
    if lifecycle:
        parts.append(get_tag("lifecycle").value_label(lifecycle, lang))
    score = tags.get("churn_score")
    if score is not None:
        parts.append(f"流失风险 {round(score)}" if zh else f"churn risk {round(score)}")
    elif tags.get("churn_risk"):
        parts.append("流失预警" if zh else "at risk of churn")
    return ", ".join(parts)


_LEVEL = {"high": 0, "mid": 1, "low": 2, "ltv_high": 0, "ltv_mid": 1, "ltv_low": 2}


def tier_note(tags: dict, lang: str = "zh", settings: Settings | None = None) -> str | None:
    """One line explaining why value (价值) and LTV tier disagree, when they do."""
    value, ltv = tags.get("value"), tags.get("ltv_tier")
    if value not in _LEVEL or ltv not in _LEVEL or _LEVEL[value] == _LEVEL[ltv]:
        return None
    t = (settings or get_settings()).tags
    score = (tags.get("rfm_score") or 0) + (tags.get("health_contribution") or 0)
    spend = tags.get("spend_cny") or 0.0
    if lang == "zh":
        return (
            f"价值与LTV分层不同: 价值看近 {t.rfm_days} 天 RFM + 健康贡献 (得分 {score}, "
            f"高价值需 ≥ {t.value_high_min} 且已复购), LTV 只看累计消费 (¥{spend:,.0f})"
        )
    return (
        f"value and LTV tier differ: value scores RFM + health contribution over "
        f"{t.rfm_days} days ({score}; high needs ≥ {t.value_high_min} and a repurchase), "
        f"the LTV tier only total spend (¥{spend:,.0f})"
    )


def labelled(tags: dict, lang: str = "zh") -> list[tuple[str, str, str]]:
    """(tag name, label, value label) for every registered tag present in `tags`."""
    out = []
    for t in all_tags():
        if t.name not in tags:
            continue
        v = tags[t.name]
        if t.values:
            text = t.value_label(v, lang) if v is not None else "—"
        elif isinstance(v, bool):
            text = ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
        else:
            text = "—" if v is None else str(v)
        out.append((t.name, t.label(lang), text))
    return out
