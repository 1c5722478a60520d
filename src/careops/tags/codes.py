"""Clinical and behavioural vocabularies the tags recognise (ICD-10 prefixes, SNOMED, drugs).

Chronic conditions are recognised from conditions (ICD-10 / SNOMED codes), consultation
diagnoses (ICD-10) and prescriptions (ATC code prefix or the Chinese drug name).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Chronic:
    code: str
    label_zh: str
    label_en: str
    icd10: tuple[str, ...]
    snomed: tuple[str, ...] = ()
    atc: tuple[str, ...] = ()
    drug_names: tuple[str, ...] = ()


CHRONIC: tuple[Chronic, ...] = (
    Chronic(
        "hypertension",
        "高血压",
        "Hypertension",
        ("I10", "I11", "I12", "I13", "I15"),
        ("38341003", "59621000"),
        ("C02", "C03", "C07", "C08", "C09"),
        ("地平", "沙坦", "普利", "洛尔", "吲达帕胺", "氢氯噻嗪"),
    ),
    Chronic(
        "diabetes",
        "糖尿病",
        "Diabetes",
        ("E10", "E11", "E13", "E14"),
        ("44054006", "46635009", "73211009"),
        ("A10",),
        ("二甲双胍", "胰岛素", "格列", "阿卡波糖", "列汀", "列净"),
    ),
    Chronic(
        "coronary_heart_disease",
        "冠心病",
        "Coronary heart disease",
        ("I20", "I25"),
        ("53741008",),
        (),
        ("硝酸甘油", "单硝酸异山梨酯"),
    ),
    Chronic("copd", "慢阻肺", "COPD", ("J44",), ("13645005",), (), ("噻托溴铵",)),
    Chronic("asthma", "哮喘", "Asthma", ("J45",), ("195967001",), (), ("布地奈德福莫特罗",)),
    Chronic(
        "chronic_kidney_disease",
        "慢性肾病",
        "Chronic kidney disease",
        ("N18",),
        ("709044004",),
        (),
        (),
    ),
    Chronic(
        "hyperlipidemia", "高脂血症", "Hyperlipidemia", ("E78",), ("55822004",), ("C10",), ("他汀",)
    ),
)

# Acute consultations (SPEC §3 急症问诊型): fever, abdominal pain, acute infections.
ACUTE_ICD10 = ("J00", "J02", "J03", "J06", "J10", "J11", "J18", "A09", "K35", "R10", "R50", "N39.0")
ACUTE_DEPARTMENTS = ("急诊科", "发热门诊", "感染科")
ACUTE_WORDS = ("发热", "发烧", "高烧", "腹痛", "肚子疼", "急诊", "fever")
PREVENTION_WORDS = ("疫苗", "接种", "中医", "调理", "心理", "养生", "营养", "vaccine")
RESOURCE_WORDS = ("挂号", "专家", "会诊", "配送", "买药", "转诊")
INTERACTIVE_EVENTS = ("share", "invite", "comment", "like", "post", "join_activity", "join_group")
CONTRIBUTION_EVENTS = ("share", "invite", "join_activity")
SERVICE_EVENTS = ("entitlement_use",)

BP_CODES = ("8480-6", "8462-4")
SYSTOLIC, DIASTOLIC = "8480-6", "8462-4"
GLUCOSE_CODES = ("2339-0", "2345-7", "15074-8", "14749-6")
