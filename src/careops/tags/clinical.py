"""Clinical tags: chronic conditions, allergy and family history, readings, stage, priority."""

from __future__ import annotations

import ibis

from careops.tags import codes
from careops.tags.registry import Scope, Tag, register, tag


def _has(condition: codes.Chronic):
    def build(s: Scope):
        return (
            s.col(f"cd.{condition.code}").fill_null(0)
            + s.col(f"co.dx_{condition.code}").fill_null(0)
            + s.col(f"rx.{condition.code}").fill_null(0)
        ) > 0

    return build


for _c in codes.CHRONIC:
    register(
        Tag(
            f"has_{_c.code}",
            f"{_c.label_zh}史",
            f"{_c.label_en} history",
            "static",
            "bool",
            f"{_c.label_en} from conditions (ICD-10 {', '.join(_c.icd10)}), consultation "
            "diagnoses or prescriptions",
            _has(_c),
        )
    )


@tag(
    "chronic_conditions",
    "慢病",
    "Chronic conditions",
    "static",
    "string",
    "Chronic conditions recognised, comma-joined codes in a fixed order",
)
def chronic_conditions(s: Scope):
    parts = [s.tag(f"has_{c.code}").ifelse(f",{c.code}", "") for c in codes.CHRONIC]
    joined = parts[0]
    for p in parts[1:]:
        joined = joined.concat(p)
    return (joined == "").ifelse(ibis.null("string"), joined.substr(1))


@tag(
    "chronic",
    "慢病患者",
    "Chronic patient",
    "static",
    "bool",
    "Special group: at least one chronic condition",
)
def chronic(s: Scope):
    out = ibis.literal(False)
    for c in codes.CHRONIC:
        out = out | s.tag(f"has_{c.code}")
    return out


@tag("allergy", "过敏史", "Allergy", "static", "bool", "A condition of category 'allergy'")
def allergy(s: Scope):
    return s.col("cd.allergy").fill_null(0) > 0


@tag(
    "family_history",
    "家族史",
    "Family history",
    "static",
    "bool",
    "A condition of category 'family_history'",
)
def family_history(s: Scope):
    return s.col("cd.family_history").fill_null(0) > 0


@tag(
    "days_without_bp",
    "未测血压天数",
    "Days without BP reading",
    "dynamic",
    "int",
    "Whole days between the last blood-pressure reading and as-of (null: never measured)",
)
def days_without_bp(s: Scope):
    return s.ctx.days_without(s.col("ob.last_bp_day")).cast("int64")


@tag(
    "days_without_glucose",
    "未测血糖天数",
    "Days without glucose reading",
    "dynamic",
    "int",
    "Whole days between the last glucose reading and as-of (null: never measured)",
)
def days_without_glucose(s: Scope):
    return s.ctx.days_without(s.col("ob.last_glucose_day")).cast("int64")


STAGES = (
    ("prevention", "预防期", "Prevention"),
    ("self_check", "症状自查期", "Symptom self-check"),
    ("in_treatment", "治疗期", "In treatment"),
    ("recovery", "康复期", "Recovery"),
)


@tag(
    "health_stage",
    "健康阶段",
    "Health stage",
    "dynamic",
    "category",
    "in_treatment: a prescription still running or a consultation within tags.treatment_days; "
    "recovery: treated within tags.recovery_days; self_check: searched within "
    "tags.self_check_days; else prevention",
    values=STAGES,
)
def health_stage(s: Scope):
    treating = (s.col("rx.running").fill_null(0) > 0) | (s.col("co.treatment").fill_null(0) > 0)
    recovering = (s.col("rx.recovery").fill_null(0) > 0) | (s.col("co.recovery").fill_null(0) > 0)
    checking = s.col("ev.search_self_check").fill_null(0) > 0
    return ibis.cases(
        (treating, "in_treatment"),
        (recovering, "recovery"),
        (checking, "self_check"),
        else_="prevention",
    )


PRIORITIES = (("high", "高", "High"), ("mid", "中", "Mid"), ("low", "低", "Low"))


@tag(
    "need_priority",
    "需求优先级",
    "Need priority",
    "dynamic",
    "category",
    "high: abnormal BP/glucose reading, acute consultation or acute search within "
    "tags.urgent_days; mid: chronic patient, in treatment or recovery; else low",
    values=PRIORITIES,
)
def need_priority(s: Scope):
    urgent = (
        (s.col("ob.abnormal_urgent").fill_null(0) > 0)
        | (s.col("co.acute_urgent").fill_null(0) > 0)
        | (s.col("ev.recent_acute").fill_null(0) > 0)
    )
    ongoing = s.tag("chronic") | s.tag("health_stage").isin(("in_treatment", "recovery"))
    return ibis.cases((urgent, "high"), (ongoing, "mid"), else_="low")
