"""Roles and what each may do (least privilege, SPEC §10): one table the API, the CLI and the
cockpit all consult, and the role × route test checks.

A permission names a capability (`segments.write`). Which patients a role may see one by one is a
second, object-level question answered by `PATIENT_SCOPE`: operations staff see masked portraits of
every patient but nothing clinical; doctors and their assistants the clinical records of patients
seen in their own department; health managers the patients assigned to them; analysts only
de-identified data; auditors no patient at all.
"""

from __future__ import annotations

from typing import Literal

Role = Literal["admin", "operations", "medical", "health_manager", "analyst", "auditor"]
ROLES: tuple[Role, ...] = (
    "admin",
    "operations",
    "medical",
    "health_manager",
    "analyst",
    "auditor",
)

#: permission -> (中文, English): what it lets its holder do
PERMISSIONS: dict[str, tuple[str, str]] = {
    "tags.read": ("查看标签与分层(汇总)", "read tag definitions, layer counts and migration"),
    "tags.compute": ("计算标签快照", "compute and store tag snapshots"),
    "segments.read": ("人群计数与抽样", "count and sample segments"),
    "segments.write": ("保存/删除人群", "save and delete segments"),
    "segments.export": ("导出人群名单", "export a segment's patient list"),
    "metrics.read": ("查看指标与报告", "read metrics and the report"),
    "experiments.read": ("查看实验", "list and analyse experiments"),
    "experiments.write": ("创建/管理实验", "create, stop and expose experiments"),
    "journeys.read": ("查看旅程", "list journeys and their stats"),
    "journeys.write": ("管理旅程", "validate, enable and disable journeys"),
    "models.read": ("查看模型评分", "read model scores"),
    "triage.run": ("智能分诊", "run triage"),
    "dose.check": ("儿童剂量核对", "check a paediatric order against the dosage limits"),
    "tasks.read": ("查看待办任务", "read the tasks that are one's work"),
    "tasks.work": ("处理待办任务", "close one's tasks with an outcome"),
    "patients.portrait": ("患者画像(脱敏)", "a patient's portrait: tags, layers, masked contacts"),
    "patients.clinical": ("患者临床记录", "a patient's clinical records (object-level checks)"),
    "patients.contacts": ("患者联系方式明文", "unmasked contact details (channel senders only)"),
    "consents.write": ("记录同意/撤回", "record consent grants and withdrawals"),
    "events.write": ("上报行为事件", "send behaviour events"),
    "ingest.write": ("导入数据文件", "import data files"),
    "data.deidentified": ("去标识化数据", "de-identified exports and analyst SQL"),
    "audit.read": ("查看审计日志", "read and verify the audit trail"),
    "users.manage": ("管理账号与密钥", "manage staff accounts and API keys"),
    "privacy.erase": ("删除患者数据", "erase a patient (PIPL)"),
    "care.read": (
        "查看服务包目录与预警规则",
        "read the service-package catalogue and the abnormal-reading rules",
    ),
    "growth.read": ("查看积分与邀请", "read points, levels, coupons and referrals"),
    "growth.write": (
        "积分发放/兑换与邀请奖励",
        "earn and redeem points, referral codes and rewards",
    ),
}

_OPERATIONS = {
    "tags.read",
    "tags.compute",
    "segments.read",
    "segments.write",
    "segments.export",
    "metrics.read",
    "experiments.read",
    "experiments.write",
    "journeys.read",
    "journeys.write",
    "models.read",
    "patients.portrait",
    "consents.write",
    "tasks.read",
    "tasks.work",
    "growth.read",
    "growth.write",
    "care.read",
}

#: role -> its permissions. Admins administer (accounts, erasure, configuration, everything
#: operational) but do not read clinical records or plain contacts: they treat no one.
GRANTS: dict[Role, frozenset[str]] = {
    "admin": frozenset(
        set(PERMISSIONS) - {"patients.clinical", "patients.contacts", "data.deidentified"}
    ),
    "operations": frozenset(_OPERATIONS),
    "medical": frozenset(
        {
            "patients.portrait",
            "patients.clinical",
            "triage.run",
            "dose.check",
            "models.read",
            "tags.read",
            "tasks.read",
            "tasks.work",
            "care.read",
        }
    ),
    "health_manager": frozenset(
        {
            "care.read",
            "patients.portrait",
            "patients.clinical",
            "models.read",
            "journeys.read",
            "tags.read",
            "tasks.read",
            "tasks.work",
        }
    ),
    "analyst": frozenset(
        {
            "data.deidentified",
            "metrics.read",
            "tags.read",
            "segments.read",
            "experiments.read",
            "models.read",
            "care.read",
        }
    ),
    "auditor": frozenset({"audit.read"}),
}

PatientScope = Literal["all_masked", "department", "assigned", "pseudonymous", "none"]

#: which patients a role may look at one by one, and how
PATIENT_SCOPE: dict[Role, PatientScope] = {
    "admin": "all_masked",
    "operations": "all_masked",
    "medical": "department",
    "health_manager": "assigned",
    "analyst": "pseudonymous",
    "auditor": "none",
}

#: scopes an API key (a hospital app or system) may hold: no role, only these permissions
APP_SCOPES: frozenset[str] = frozenset(
    {
        "events.write",
        "consents.write",
        "triage.run",
        "dose.check",
        "patients.portrait",
        "patients.contacts",
        "models.read",
        "segments.read",
        "metrics.read",
        "care.read",
        "growth.read",
        "growth.write",
    }
)


def permissions_of(roles: tuple[str, ...]) -> frozenset[str]:
    """Every permission any of `roles` grants (unknown role names grant nothing)."""
    out: set[str] = set()
    for role in roles:
        out |= GRANTS.get(role, frozenset())  # type: ignore[call-overload]
    return frozenset(out)


#: role -> (中文, English), for lists and pages
ROLE_NAMES: dict[Role, tuple[str, str]] = {
    "admin": ("管理员", "administrator"),
    "operations": ("运营", "operations"),
    "medical": ("医生/医助", "doctor / medical assistant"),
    "health_manager": ("健康管理师", "health manager"),
    "analyst": ("数据分析师", "analyst"),
    "auditor": ("审计员", "auditor"),
}
