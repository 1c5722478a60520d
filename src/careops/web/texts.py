"""The cockpit's own words (navigation, buttons, headings), Chinese first, English on request.

Domain words (metric, layer, tag names) come from the one label catalogue (`careops.labels`);
only what belongs to the pages themselves is here.
"""

from __future__ import annotations

from typing import Literal

Lang = Literal["zh", "en"]
LANGS: tuple[Lang, ...] = ("zh", "en")

#: key -> (中文, English)
TEXT: dict[str, tuple[str, str]] = {
    "app": ("CareOps 运营驾驶舱", "CareOps cockpit"),
    "skip": ("跳到正文", "Skip to content"),
    "nav": ("主导航", "Main navigation"),
    "nav.overview": ("总览", "Overview"),
    "nav.layers": ("用户分层", "Layers"),
    "nav.portrait": ("用户画像", "Patient portrait"),
    "nav.audit": ("审计", "Audit"),
    "lang.switch": ("English", "中文"),
    "login.title": ("登录", "Log in"),
    "login.username": ("用户名", "Username"),
    "login.password": ("密码", "Password"),
    "login.submit": ("登录", "Log in"),
    "login.failed": ("用户名或密码错误, 或账号已锁定", "Wrong username or password, or locked"),
    "login.throttled": (
        "此地址登录失败次数过多, 请几分钟后再试",
        "Too many failed logins from this address; try again in a few minutes",
    ),
    "login.expired": ("请重新登录", "Please log in again"),
    "logout": ("退出", "Log out"),
    "as_of": ("统计日", "As of"),
    "as_of.note": ("(该日 0 点前的数据)", "(facts before 00:00 of that day)"),
    "apply": ("查看", "Show"),
    "change": ("环比", "vs previous period"),
    "change.prev": ("上期", "previous"),
    "overview.title": ("运营总览", "Operations overview"),
    "overview.note": (
        "环比: 与上一个同长度统计窗口相比(比率为百分点差)",
        "Change: against the previous window of the same length (rates in percentage points)",
    ),
    "layers.title": ("用户分层", "Patient layers"),
    "layers.users": ("人数", "Patients"),
    "layers.share": ("占比", "Share"),
    "layers.layer": ("分层", "Layer"),
    "layers.groups": ("特殊人群", "Special groups"),
    "layers.stale": (
        "该日快照已过期, 为实时计算结果",
        "The stored snapshot of that day is stale; computed live",
    ),
    "migration.title": ("分层迁移矩阵", "Layer migration"),
    "migration.start": ("起始日", "From"),
    "migration.end": ("结束日", "To"),
    "migration.dimension": ("维度", "Dimension"),
    "migration.from_to": ("起始 \\ 结束", "from \\ to"),
    "drill.title": ("分层患者", "Patients in a layer"),
    "drill.note": (
        "联系方式均已脱敏; 每次查看均记入审计日志",
        "Contacts are masked; every view is recorded in the audit trail",
    ),
    "drill.total": ("共 {n} 人", "{n} patients"),
    "drill.back": ("返回分层", "Back to layers"),
    "drill.export": ("导出名单 (CSV)", "Export the list (CSV)"),
    "prev": ("上一页", "Previous"),
    "next": ("下一页", "Next"),
    "page": ("第 {a}–{b} 条, 共 {n} 条", "{a}–{b} of {n}"),
    "patient": ("患者", "Patient"),
    "name": ("姓名", "Name"),
    "phone": ("手机", "Mobile"),
    "summary": ("画像摘要", "Summary"),
    "portrait.title": ("用户画像", "Patient portrait"),
    "portrait.find": ("患者 ID", "Patient ID"),
    "portrait.open": ("查看画像", "Open portrait"),
    "portrait.layers": ("分层", "Layers"),
    "portrait.groups": ("所属人群", "Groups"),
    "portrait.tags": ("标签", "Tags"),
    "portrait.tag": ("标签", "Tag"),
    "portrait.value": ("取值", "Value"),
    "portrait.meaning": ("含义", "Meaning"),
    "portrait.contacts": ("联系方式(脱敏)", "Contacts (masked)"),
    "portrait.no_contacts": ("无联系方式记录", "No contacts stored"),
    "portrait.clinical": ("临床记录", "Clinical records"),
    "portrait.no_records": ("无记录", "No records"),
    "portrait.none": ("无", "none"),
    "audit.title": ("审计日志", "Audit trail"),
    "audit.at": ("时间 (UTC)", "Time (UTC)"),
    "audit.actor": ("操作者", "Actor"),
    "audit.role": ("角色", "Role"),
    "audit.action": ("动作", "Action"),
    "audit.target": ("对象", "Target"),
    "audit.subject": ("患者", "Patient"),
    "audit.source": ("来源", "From"),
    "audit.filter": ("筛选", "Filter"),
    "audit.verify": ("校验哈希链", "Verify the hash chain"),
    "audit.chain_ok": ("哈希链完整: {n} 条", "Hash chain intact: {n} entries"),
    "audit.chain_broken": ("哈希链断裂于第 {id} 条: {reason}", "Chain broken at #{id}: {reason}"),
    "error.title": ("出错了", "Something went wrong"),
    "error.403": ("无权访问此页面", "You are not allowed to see this page"),
    "error.404": ("未找到", "Not found"),
    "error.422": ("输入不合法", "The input is not valid"),
    "error.500": ("服务内部错误, 请稍后再试", "Internal error; please try again later"),
    "error.503": ("服务暂不可用, 请稍后再试", "The service is busy; please try again shortly"),
    "error.home": ("返回首页", "Back to the start page"),
    "chart.layers": ("各分层人数", "Patients per layer"),
    "none": ("—", "—"),
}


def text(key: str, lang: str = "zh", **fields: object) -> str:
    """The text `key` in `lang` (zh unless `en`), with `{fields}` filled in."""
    zh, en = TEXT[key]
    out = en if lang == "en" else zh
    return out.format(**fields) if fields else out
