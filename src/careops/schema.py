"""The canonical tables of DESIGN.md §2, defined once.

Every door (files, FHIR, the simulator, the API) writes rows of these shapes; every module reads
them. A `Column` carries its type and the value rules that ingestion enforces; `arrow_schema()`
and `ibis_schema()` derive the physical schemas from it. Timestamps are UTC, money is yuan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import ibis
import ibis.expr.datatypes as dt
import pyarrow as pa

ColumnType = Literal["string", "timestamp", "date", "float64", "int64", "json"]

_ARROW: dict[str, pa.DataType] = {
    "string": pa.string(),
    "json": pa.string(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
    "float64": pa.float64(),
    "int64": pa.int64(),
}
_IBIS: dict[str, dt.DataType] = {
    "string": dt.string,
    "json": dt.string,
    "timestamp": dt.Timestamp(timezone="UTC", scale=6),
    "date": dt.date,
    "float64": dt.float64,
    "int64": dt.int64,
}


@dataclass(frozen=True)
class Column:
    """One column: its type and the rules a value must meet to be loaded."""

    name: str
    type: ColumnType = "string"
    required: bool = False
    enum: tuple[str, ...] | None = None
    min: float | None = None
    max: float | None = None
    not_future: bool = False
    label_zh: str = ""
    description: str = ""


@dataclass(frozen=True)
class Table:
    """One canonical table: its key (one column or several) and its columns."""

    name: str
    key: tuple[str, ...]
    columns: tuple[Column, ...]
    label_zh: str = ""
    user_column: str | None = "user_id"
    extra: dict[str, str] = field(default_factory=dict)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.columns]

    @property
    def required(self) -> list[str]:
        return [c.name for c in self.columns if c.required]

    def arrow_schema(self) -> pa.Schema:
        return pa.schema(
            [pa.field(c.name, _ARROW[c.type], nullable=not c.required) for c in self.columns]
        )

    def ibis_schema(self) -> ibis.Schema:
        return ibis.schema({c.name: _IBIS[c.type] for c in self.columns})


def _id(name: str, label: str = "") -> Column:
    return Column(name, "string", required=True, label_zh=label)


def _ts(name: str, *, required: bool = True, label: str = "") -> Column:
    return Column(name, "timestamp", required=required, not_future=True, label_zh=label)


USER = _id("user_id", "用户ID")
MONEY = {"min": 0.0}

TABLES: dict[str, Table] = {
    t.name: t
    for t in [
        Table(
            "patients",
            ("user_id",),
            (
                USER,
                _ts("registered_at", label="注册时间"),
                Column("birth_date", "date", not_future=True, label_zh="出生日期"),
                Column("sex", enum=("M", "F", "U"), label_zh="性别"),
                Column("region", label_zh="地区"),
                Column("city", label_zh="城市"),
                Column("source_channel", label_zh="来源渠道"),
                Column("referrer_id", label_zh="推荐人"),
                Column(
                    "managed_by",
                    label_zh="代管账号",
                    description="user_id of the family account that manages this patient",
                ),
            ),
            label_zh="患者",
        ),
        Table(
            "events",
            ("event_id",),
            (
                _id("event_id", "事件ID"),
                USER,
                _ts("ts", label="时间"),
                Column("name", required=True, label_zh="事件名"),
                Column("properties", "json", label_zh="属性"),
            ),
            label_zh="行为事件",
        ),
        Table(
            "consultations",
            ("consultation_id",),
            (
                _id("consultation_id", "问诊ID"),
                USER,
                Column("doctor_id", label_zh="医生"),
                Column("department", label_zh="科室"),
                _ts("started_at", label="开始时间"),
                Column("first_reply_s", "float64", min=0.0, label_zh="首次回复秒数"),
                Column("mode", enum=("text", "video", "phone", "offline"), label_zh="方式"),
                Column("diagnosis_code", label_zh="诊断编码"),
                Column("rating", "float64", min=1.0, max=5.0, label_zh="评分"),
                Column("price_cny", "float64", **MONEY, label_zh="价格"),
                Column("complaint", label_zh="主诉"),
            ),
            label_zh="问诊",
        ),
        Table(
            "orders",
            ("order_id",),
            (
                _id("order_id", "订单ID"),
                USER,
                _ts("ts", label="下单时间"),
                Column(
                    "category",
                    required=True,
                    enum=("consultation", "drug", "checkup", "package", "device", "other"),
                    label_zh="品类",
                ),
                Column("sku", label_zh="商品"),
                Column("amount_cny", "float64", required=True, **MONEY, label_zh="金额"),
                Column(
                    "status",
                    required=True,
                    enum=("paid", "refunded", "failed", "cancelled"),
                    label_zh="状态",
                ),
            ),
            label_zh="订单",
        ),
        Table(
            "prescriptions",
            ("prescription_id",),
            (
                _id("prescription_id", "处方ID"),
                USER,
                Column("consultation_id", label_zh="问诊ID"),
                _ts("ts", label="开方时间"),
                Column("drug_code", label_zh="药品编码"),
                Column("drug_name", label_zh="药品名"),
                Column("days_supply", "int64", min=0, max=366, label_zh="用药天数"),
                Column("refills", "int64", min=0, max=24, label_zh="续方次数"),
            ),
            label_zh="处方",
        ),
        Table(
            "observations",
            ("observation_id",),
            (
                _id("observation_id", "观测ID"),
                USER,
                _ts("ts", label="测量时间"),
                Column("code", required=True, label_zh="LOINC编码"),
                Column("value", "float64", required=True, label_zh="数值"),
                Column("unit", label_zh="单位"),
                Column("source", label_zh="来源"),
            ),
            label_zh="检测指标",
        ),
        Table(
            "conditions",
            ("condition_id",),
            (
                _id("condition_id", "诊断ID"),
                USER,
                Column(
                    "system", required=True, enum=("icd10", "snomed", "other"), label_zh="编码体系"
                ),
                Column("code", required=True, label_zh="编码"),
                Column("display", label_zh="名称"),
                _ts("onset_at", required=False, label="起病时间"),
                Column(
                    "status",
                    enum=("active", "recurrence", "relapse", "inactive", "remission", "resolved"),
                    label_zh="状态",
                ),
                Column(
                    "category",
                    enum=("diagnosis", "problem", "allergy", "family_history"),
                    label_zh="类别",
                ),
            ),
            label_zh="诊断",
        ),
        Table(
            "encounters",
            ("encounter_id",),
            (
                _id("encounter_id", "就诊ID"),
                USER,
                _ts("start_at", label="开始"),
                _ts("end_at", required=False, label="结束"),
                Column("class", label_zh="类型"),
                Column("department", label_zh="科室"),
            ),
            label_zh="就诊",
        ),
        Table(
            "surveys",
            ("response_id",),
            (
                _id("response_id", "问卷ID"),
                USER,
                _ts("ts", label="时间"),
                Column("kind", required=True, enum=("nps", "csat"), label_zh="类型"),
                Column("score", "float64", required=True, min=0.0, max=10.0, label_zh="分数"),
                Column("comment", label_zh="评论"),
            ),
            label_zh="满意度调查",
        ),
        Table(
            "tickets",
            ("ticket_id",),
            (
                _id("ticket_id", "工单ID"),
                USER,
                _ts("ts", label="时间"),
                Column(
                    "kind", required=True, enum=("complaint", "question", "refund"), label_zh="类型"
                ),
                Column("reason", label_zh="原因"),
                _ts("resolved_at", required=False, label="解决时间"),
            ),
            label_zh="客服工单",
        ),
        Table(
            "doctors",
            ("doctor_id",),
            (
                _id("doctor_id", "医生ID"),
                Column("name", label_zh="姓名"),
                Column("department", label_zh="科室"),
                Column("title", label_zh="职称"),
                Column("specialties", label_zh="擅长"),  # free text: 高血压、冠心病
            ),
            label_zh="医生",
            user_column=None,
        ),
        Table(
            "catalogue",
            ("item_id",),
            (
                _id("item_id", "商品ID"),
                Column(
                    "kind",
                    required=True,
                    enum=("service", "package", "content", "drug", "device"),
                    label_zh="类型",
                ),
                Column("name", label_zh="名称"),
                Column("department", label_zh="科室"),
                Column("price_cny", "float64", **MONEY, label_zh="价格"),
                Column("topic", label_zh="主题"),
                Column("duration_days", "int64", min=0, label_zh="服务期天数"),
                Column(
                    "author_doctor_id",
                    label_zh="作者医生",
                    description="content: the doctor who wrote it (doctors.doctor_id)",
                ),
                _ts("published_at", required=False, label="发布时间"),
                Column(
                    "entitlements",
                    "json",
                    label_zh="权益",
                    description='JSON, e.g. {"consultation": 6, "follow_up": 3}',
                ),
            ),
            label_zh="服务目录",
            user_column=None,
        ),
        Table(
            "enrollments",
            ("enrollment_id",),
            (
                _id("enrollment_id", "签约ID"),
                USER,
                Column("package_id", required=True, label_zh="服务包"),
                _ts("start_at", label="开始"),
                Column("end_at", "timestamp", label_zh="结束"),
                Column("price_cny", "float64", **MONEY, label_zh="价格"),
                Column(
                    "status", enum=("active", "expired", "cancelled", "refunded"), label_zh="状态"
                ),
                Column("renewal_of", label_zh="续约自"),
            ),
            label_zh="服务包签约",
        ),
        Table(
            "entitlement_usage",
            ("usage_id",),
            (
                _id("usage_id", "使用ID"),
                Column("enrollment_id", required=True, label_zh="签约ID"),
                USER,
                _ts("ts", label="时间"),
                Column("entitlement", required=True, label_zh="权益"),
            ),
            label_zh="权益使用",
        ),
        Table(
            "consents",
            ("user_id", "channel", "purpose", "ts"),
            (
                USER,
                Column(
                    "channel",
                    required=True,
                    enum=("sms", "wechat", "app_push", "email", "phone", "all"),
                    label_zh="渠道",
                ),
                Column(
                    "purpose",
                    required=True,
                    enum=("marketing", "service", "medical", "all"),
                    label_zh="目的",
                ),
                Column(
                    "granted",
                    "int64",
                    required=True,
                    min=0,
                    max=1,
                    label_zh="同意",
                    description="1 granted, 0 withdrawn",
                ),
                _ts("ts", label="时间"),
                Column("source", label_zh="来源"),
            ),
            label_zh="授权同意",
        ),
        Table(
            "marketing_spend",
            ("date", "channel"),
            (
                Column("date", "date", required=True, not_future=True, label_zh="日期"),
                Column("channel", required=True, label_zh="渠道"),
                Column("amount_cny", "float64", required=True, **MONEY, label_zh="花费"),
                Column("new_users", "int64", min=0, label_zh="新增用户"),
            ),
            label_zh="投放花费",
            user_column=None,
        ),
    ]
}

# Observation units: LOINC code -> canonical unit, and accepted spellings -> (factor, offset)
# so that canonical = value * factor + offset. Codes not listed keep the unit they come with.
_MMHG = {"mm[Hg]": (1.0, 0.0), "mmHg": (1.0, 0.0), "mm Hg": (1.0, 0.0), "毫米汞柱": (1.0, 0.0)}
_GLUCOSE = {
    "mmol/L": (1.0, 0.0),
    "mmol/l": (1.0, 0.0),
    "mg/dL": (1 / 18.016, 0.0),
    "mg/dl": (1 / 18.016, 0.0),
}
OBSERVATION_UNITS: dict[str, tuple[str, dict[str, tuple[float, float]], tuple[float, float]]] = {
    # code: (canonical unit, aliases, plausible range in canonical unit)
    "8480-6": ("mm[Hg]", _MMHG, (40, 300)),
    "8462-4": ("mm[Hg]", _MMHG, (20, 200)),
    "8867-4": (
        "/min",
        {
            "/min": (1.0, 0.0),
            "bpm": (1.0, 0.0),
            "{beats}/min": (1.0, 0.0),
            "beats/min": (1.0, 0.0),
            "次/分": (1.0, 0.0),
        },
        (20, 300),
    ),
    "29463-7": (
        "kg",
        {
            "kg": (1.0, 0.0),
            "g": (0.001, 0.0),
            "[lb_av]": (0.45359237, 0.0),
            "lb": (0.45359237, 0.0),
            "lbs": (0.45359237, 0.0),
            "斤": (0.5, 0.0),
        },
        (0.3, 400),
    ),
    "8302-2": (
        "cm",
        {
            "cm": (1.0, 0.0),
            "m": (100.0, 0.0),
            "mm": (0.1, 0.0),
            "[in_i]": (2.54, 0.0),
            "in": (2.54, 0.0),
        },
        (20, 260),
    ),
    "39156-5": ("kg/m2", {"kg/m2": (1.0, 0.0), "kg/m^2": (1.0, 0.0)}, (5, 100)),
    "2339-0": ("mmol/L", _GLUCOSE, (0.5, 60)),
    "2345-7": ("mmol/L", _GLUCOSE, (0.5, 60)),
    "15074-8": ("mmol/L", _GLUCOSE, (0.5, 60)),
    "14749-6": ("mmol/L", _GLUCOSE, (0.5, 60)),
    "4548-4": ("%", {"%": (1.0, 0.0), "mmol/mol": (1 / 10.929, 2.15)}, (2, 25)),
    "55423-8": (
        "{steps}",
        {
            "{steps}": (1.0, 0.0),
            "steps": (1.0, 0.0),
            "/d": (1.0, 0.0),
            "{steps}/d": (1.0, 0.0),
            "步": (1.0, 0.0),
        },
        (0, 200000),
    ),
}


def table(name: str) -> Table:
    """The canonical table called `name`, or a clear error listing the known ones."""
    try:
        return TABLES[name]
    except KeyError:
        from careops.errors import InputError

        raise InputError(f"unknown table {name!r}; known tables: {', '.join(TABLES)}") from None
