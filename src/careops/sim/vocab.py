"""The simulated hospital's fixed world: departments, Chinese complaints and searches, diagnoses,
drugs, content, doctors and the catalogue. Pure data, so docs and tests can read it."""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Department:
    """A department: what patients say, search and are diagnosed with there, and their drugs."""

    name: str
    complaints: tuple[str, ...]
    queries: tuple[str, ...]
    diagnoses: tuple[tuple[str, str], ...]  # (ICD-10, display)
    drugs: tuple[str, ...]  # drug codes
    topic: str


DEPARTMENTS: dict[str, Department] = {
    d.name: d
    for d in [
        Department(
            "呼吸内科",
            (
                "咳嗽三天了,有黄痰",
                "发热38.5度,咽喉痛",
                "流鼻涕打喷嚏,头有点痛",
                "感冒一周咳嗽不好",
                "发烧伴全身酸痛",
            ),
            ("感冒", "发烧怎么办", "咳嗽有痰", "流感症状", "咽喉痛"),
            (("J06.9", "急性上呼吸道感染"), ("J11.1", "流行性感冒")),
            ("J01CA04", "N02BE01", "TCM-LHQW"),
            "感冒发烧",
        ),
        Department(
            "消化内科",
            ("肚子疼,拉肚子一天了", "胃痛反酸", "吃完饭胃胀恶心", "腹痛伴呕吐", "胃部隐痛一周"),
            ("胃痛", "腹泻怎么办", "腹痛", "胃炎吃什么药", "反酸烧心"),
            (("K29.7", "胃炎"), ("A09", "感染性腹泻")),
            ("A02BC01", "A07BC05"),
            "胃肠健康",
        ),
        Department(
            "感染科",
            ("持续高热三天", "发热伴皮疹", "发热头痛乏力"),
            ("高烧不退", "发热皮疹", "头痛发热"),
            (("B34.9", "病毒感染"), ("J11.1", "流行性感冒")),
            ("N02BE01", "TCM-LHQW"),
            "感冒发烧",
        ),
        Department(
            "儿科",
            (
                "孩子发烧38.5度,要不要去医院",
                "宝宝咳嗽有痰两天",
                "小孩拉肚子",
                "孩子夜里咳嗽睡不好",
                "宝宝出疹子发烧",
            ),
            ("孩子发烧", "小儿咳嗽", "宝宝腹泻", "儿童用药剂量", "疫苗接种时间"),
            (("J06.9", "急性上呼吸道感染"), ("A09", "感染性腹泻")),
            ("M01AE01", "A07BC05", "A11CC05"),
            "儿童健康",
        ),
        Department(
            "心血管内科",
            (
                "血压160/100,头晕",
                "胸闷心慌",
                "降压药吃完了,复诊开药",
                "早上血压偏高",
                "血压忽高忽低",
            ),
            ("高血压饮食", "降压药", "血压多少正常", "胸闷", "高血压吃什么"),
            (("I10", "原发性高血压"), ("I25.1", "冠状动脉粥样硬化性心脏病")),
            ("C08CA05", "C08CA01"),
            "高血压",
        ),
        Department(
            "内分泌科",
            (
                "血糖控制不好,空腹9点多",
                "口渴多尿,体重下降",
                "糖尿病复诊开药",
                "餐后血糖15",
                "二甲双胍吃了胃不舒服",
            ),
            ("血糖高怎么办", "糖尿病饮食", "二甲双胍", "血糖正常值", "胰岛素"),
            (("E11.9", "2型糖尿病"),),
            ("A10BA02", "A10BF01"),
            "糖尿病",
        ),
        Department(
            "神经内科",
            ("头痛、发热", "头痛恶心视力模糊", "经常失眠,入睡困难", "偏头痛发作", "头晕乏力"),
            ("失眠", "偏头痛", "头痛", "睡不着怎么办", "头晕"),
            (("G43.9", "偏头痛"), ("G47.0", "失眠症")),
            ("N05CF04", "N02BE01"),
            "失眠",
        ),
        Department(
            "精神心理科",
            ("焦虑睡不着", "情绪低落两周", "工作压力大失眠"),
            ("焦虑", "失眠", "抑郁自测", "压力大"),
            (("F51.0", "非器质性失眠"), ("F41.9", "焦虑障碍")),
            ("N05CF04",),
            "心理健康",
        ),
        Department(
            "妇产科",
            ("孕12周,孕吐严重", "产检报告看不懂", "孕期感冒怎么办", "孕期能吃什么药"),
            ("孕期营养", "产检", "孕吐", "孕期感冒", "叶酸"),
            (("Z34.9", "正常妊娠监督"), ("O21.0", "轻度妊娠剧吐")),
            ("B03BB01",),
            "孕期",
        ),
        Department(
            "中医科",
            ("体虚乏力,想中医调理", "手脚冰凉", "湿气重"),
            ("中医调理", "祛湿", "养生", "体质辨识"),
            (("R53", "不适和疲劳"),),
            ("TCM-LHQW",),
            "中医养生",
        ),
    ]
}
DEPARTMENT_NAMES: tuple[str, ...] = tuple(DEPARTMENTS)

#: what doctors of each department list as their specialties (擅长); each doctor gets 2–3
DOCTOR_SPECIALTIES: dict[str, tuple[str, ...]] = {
    "呼吸内科": ("慢性咳嗽", "哮喘", "慢阻肺", "肺结节", "肺炎", "感冒发热"),
    "消化内科": ("胃炎", "消化性溃疡", "肠易激综合征", "脂肪肝", "胃肠镜检查", "便秘"),
    "感染科": ("发热待查", "病毒性肝炎", "乙肝", "流感", "带状疱疹"),
    "儿科": ("小儿呼吸道感染", "小儿腹泻", "儿童哮喘", "生长发育", "新生儿黄疸"),
    "心血管内科": ("高血压", "冠心病", "心律失常", "心力衰竭", "高血脂"),
    "内分泌科": ("糖尿病", "甲状腺疾病", "肥胖", "痛风", "骨质疏松"),
    "神经内科": ("头痛", "偏头痛", "失眠", "头晕", "脑血管病", "癫痫"),
    "精神心理科": ("焦虑", "抑郁", "失眠", "强迫症", "青少年心理"),
    "妇产科": ("孕期保健", "妊娠剧吐", "月经不调", "妇科炎症", "产后恢复"),
    "中医科": ("中医调理", "脾胃病", "失眠", "体质辨识", "针灸"),
}

DRUGS: dict[str, tuple[str, float, int]] = {  # code → (name, price, default days of supply)
    "C08CA05": ("硝苯地平控释片", 35.0, 30),
    "C08CA01": ("苯磺酸氨氯地平片", 28.0, 30),
    "A10BA02": ("盐酸二甲双胍片", 18.0, 30),
    "A10BF01": ("阿卡波糖片", 45.0, 30),
    "M01AE01": ("布洛芬混悬液", 25.0, 5),
    "N02BE01": ("对乙酰氨基酚片", 12.0, 3),
    "A02BC01": ("奥美拉唑肠溶胶囊", 30.0, 14),
    "A07BC05": ("蒙脱石散", 20.0, 3),
    "J01CA04": ("阿莫西林胶囊", 15.0, 7),
    "TCM-LHQW": ("连花清瘟胶囊", 30.0, 5),
    "N05CF04": ("右佐匹克隆片", 50.0, 14),
    "B03BB01": ("叶酸片", 15.0, 30),
    "A11CC05": ("维生素D滴剂", 40.0, 30),
}
CHRONIC_DRUGS = frozenset({"C08CA05", "C08CA01", "A10BA02", "A10BF01"})

CONDITIONS: dict[str, str] = {
    "I10": "原发性高血压",
    "E11": "2型糖尿病",
    "I25": "冠状动脉粥样硬化性心脏病",
    "G47.0": "失眠症",
}

# (id, name, price) of online consultations by doctor title
TITLES: tuple[tuple[str, float, float], ...] = (  # title, consult price, share of doctors
    ("住院医师", 50.0, 0.3),
    ("主治医师", 60.0, 0.35),
    ("副主任医师", 75.0, 0.25),
    ("主任医师", 80.0, 0.1),
)

PACKAGES: dict[str, dict] = {
    "PKG-DM90": {
        "name": "糖尿病3个月管理包",
        "department": "内分泌科",
        "price": 899.0,
        "launch_price": 699.0,
        "days": 90,
        "topic": "糖尿病",
        "entitlements": {
            "consultation": 6,
            "follow_up": 3,
            "nutritionist": 2,
            "glucose_review": 12,
        },
    },
    "PKG-HTN90": {
        "name": "高血压季度管理包",
        "department": "心血管内科",
        "price": 599.0,
        "launch_price": 499.0,
        "days": 90,
        "topic": "高血压",
        "entitlements": {"consultation": 6, "follow_up": 3, "bp_review": 12},
    },
    "PKG-HTN365": {
        "name": "高血压年度管理包",
        "department": "心血管内科",
        "price": 1980.0,
        "launch_price": 1680.0,
        "days": 365,
        "topic": "高血压",
        "entitlements": {"consultation": 24, "follow_up": 12, "device": 1},
    },
    "PKG-MAT": {
        "name": "孕期管理包",
        "department": "妇产科",
        "price": 1999.0,
        "launch_price": 1699.0,
        "days": 90,
        "topic": "孕期",
        "entitlements": {"consultation": 10, "follow_up": 4, "nutritionist": 3},
    },
    "PKG-CHILD": {
        "name": "儿童成长管理包",
        "department": "儿科",
        "price": 599.0,
        "launch_price": 499.0,
        "days": 90,
        "topic": "儿童健康",
        "entitlements": {"consultation": 6, "growth_check": 2},
    },
    # in the catalogue; no simulated persona enrols (the simulated hospital has no surgery)
    "PKG-REHAB": {
        "name": "术后康复管理包",
        "department": "骨科",
        "price": 1299.0,
        "launch_price": 999.0,
        "days": 90,
        "topic": "术后康复",
        "entitlements": {
            "consultation": 6,
            "follow_up": 4,
            "rehab_session": 8,
            "report_interpretation": 2,
        },
    },
}
ENTITLEMENTS: dict[str, tuple[str, ...]] = {
    k: tuple(v["entitlements"]) for k, v in PACKAGES.items()
}
DEVICES: dict[str, tuple[str, float]] = {
    "DEV-BP": ("电子血压计", 199.0),
    "DEV-GLU": ("血糖仪套装", 159.0),
}
CHECKUPS: dict[str, tuple[str, float]] = {
    "CHK-BASIC": ("基础体检套餐", 399.0),
    "CHK-SENIOR": ("老年人体检套餐", 899.0),
    "CHK-WOMEN": ("女性体检套餐", 699.0),
}
TOPICS: tuple[str, ...] = (
    "高血压",
    "糖尿病",
    "儿童健康",
    "孕期",
    "失眠",
    "胃肠健康",
    "感冒发烧",
    "中医养生",
    "心理健康",
)
CONTENT_PER_TOPIC = 12

REGIONS: dict[str, tuple[str, ...]] = {
    "华东": ("上海", "杭州", "南京", "苏州", "合肥"),
    "华北": ("北京", "天津", "石家庄"),
    "华南": ("广州", "深圳", "南宁"),
    "华中": ("武汉", "长沙", "郑州"),
    "西南": ("成都", "重庆", "昆明"),
    "西北": ("西安", "兰州"),
    "东北": ("沈阳", "哈尔滨"),
}
REGION_WEIGHTS = (0.32, 0.18, 0.16, 0.13, 0.12, 0.05, 0.04)

# local-hour weights for app use
_H = np.ones(24)
HOUR_PROFILES: dict[str, np.ndarray] = {}
for _name, _peaks in {
    "night": (21, 22, 23, 0, 1, 2),
    "evening": (19, 20, 21, 22),
    "morning": (6, 7, 8, 9, 10),
    "daytime": (9, 10, 11, 14, 15, 16),
}.items():
    _w = _H.copy() * 0.3
    _w[3:6] = 0.05
    _w[list(_peaks)] = 3.0
    HOUR_PROFILES[_name] = _w / _w.sum()

GENERIC_QUERIES: tuple[str, ...] = ("体检套餐", "在线问诊", "附近医院", "挂号", "医保报销")
FIRST_NAMES = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂"
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"


def content_items() -> list[tuple[str, str]]:
    """(content_id, topic) for every article/video in the content library."""
    return [
        (f"CT{ti:02d}{k:02d}", t) for ti, t in enumerate(TOPICS) for k in range(CONTENT_PER_TOPIC)
    ]


def json_text(obj: dict) -> str:
    """Compact JSON text with Chinese kept readable."""
    return json.dumps(obj, ensure_ascii=False, separators=(", ", ": "))
