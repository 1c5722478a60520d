"""What each cockpit page shows, from the same service functions the HTTP API calls.

Each function takes the caller's `Ops` (whose permissions and patient scope the services
enforce and audit), calls one or a few `careops.<domain>.service` functions, and turns their
codes and numbers into display rows in the page's language. No warehouse is opened here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from careops import labels
from careops.errors import InvalidInput
from careops.metrics.format import fmt
from careops.service import Actor, Ops
from careops.web.texts import text

#: navigation: (page, permission needed to see it), in menu order
NAV: tuple[tuple[str, str], ...] = (
    ("overview", "metrics.read"),
    ("layers", "tags.read"),
    ("portrait", "patients.portrait"),
    ("audit", "audit.read"),
)
#: the KPI cards of the overview, in reading order (ROI is (LTV − CAC) / CAC)
OVERVIEW_KPIS: tuple[str, ...] = (
    "new_users",
    "mau",
    "d30_retention",
    "paid_conversion",
    "arpu",
    "nps",
    "cac",
    "ltv",
    "roi",
    "bp_control_rate",
    "glucose_control_rate",
)
#: metrics where a fall is the good news (the card colours the change accordingly)
LOWER_IS_BETTER = frozenset({"cac", "complaint_rate", "first_reply_mean_s"})
#: a layer's patients are listed this many to a page
DRILL_PAGE = 10
RECORDS_PAGE = 20
AUDIT_PAGE = 50


def nav_for(actor: Actor) -> list[str]:
    """The pages `actor` may open, in menu order."""
    return [page for page, permission in NAV if actor.can(permission)]


def default_as_of(ops: Ops) -> date:
    """The as-of date a page opens on: today (hospital time), or the day after the last day
    with data when the warehouse ends earlier (a demo or a stopped feed), so windows are full."""
    from careops.asof import today

    now = today(ops.settings)
    end = _data_end(ops)
    if end is not None and end + timedelta(days=1) < now:
        return end + timedelta(days=1)
    return now


def _data_end(ops: Ops) -> date | None:
    """The last day with data (the metrics service reports it when no as-of is given)."""
    from careops.metrics import service

    return service.metric(ops, "new_users").data_end


# ---------------------------------------------------------------- overview


@dataclass(frozen=True)
class KpiCard:
    name: str
    label: str
    value: float | None
    value_text: str
    previous_text: str
    change_text: str
    trend: str  # up | down | flat | none
    tone: str  # good | bad | neutral: whether the change is good news for this metric
    window_text: str
    note: str = ""


def _change(value: float | None, previous: float | None, unit: str, lang: str) -> tuple[str, str]:
    """The change from the previous period: percentage points for rates, else relative %."""
    if value is None or previous is None:
        return "—", "none"
    diff = value - previous
    trend = "up" if diff > 0 else "down" if diff < 0 else "flat"
    if unit == "ratio":
        pp = diff * 100
        return (f"{pp:+.1f} 个百分点" if lang == "zh" else f"{pp:+.1f} pp"), trend
    if previous == 0:
        return "—", trend
    return f"{diff / abs(previous) * 100:+.1f}%", trend


def overview(ops: Ops, as_of: date, lang: str) -> list[KpiCard]:
    """The KPI cards as of a date, each with the value of the previous window of the same
    length (a metric without a window: the default window of the metrics settings)."""
    from careops.metrics import service
    from careops.metrics.registry import get_metric

    cards = []
    for name in OVERVIEW_KPIS:
        r = service.metric(ops, name, as_of, lang=lang).result
        window = int(r.params.get("window_days") or ops.settings.metrics.window_days)
        try:
            prev = service.metric(ops, name, as_of - timedelta(days=window), lang=lang).result
            prev_value = prev.value
        except InvalidInput:  # before the first registration: no previous period
            prev_value = None
        change, trend = _change(r.value, prev_value, r.unit, lang)
        better = "down" if name in LOWER_IS_BETTER else "up"
        tone = "neutral" if trend in ("flat", "none") else "good" if trend == better else "bad"
        empty = get_metric(name).empty if r.note is not None else None
        cards.append(
            KpiCard(
                name=name,
                label=labels.metric_label(name, lang),
                value=r.value,
                value_text=fmt(r.value, r.unit, lang),
                previous_text=fmt(prev_value, r.unit, lang),
                change_text=change,
                trend=trend,
                tone=tone,
                window_text=labels.window_text(r.params.get("window_days"), lang),
                note=(empty[1] if lang == "en" else empty[0]) if empty else "",
            )
        )
    return cards


# ---------------------------------------------------------------- layers


@dataclass(frozen=True)
class LayerRow:
    dimension: str
    code: str
    label: str
    users: int
    share_text: str


@dataclass
class LayerBlock:
    dimension: str
    label: str
    rows: list[LayerRow] = field(default_factory=list)


@dataclass(frozen=True)
class LayersView:
    as_of: date
    blocks: list[LayerBlock]
    stale: str | None


def layers(ops: Ops, as_of: date, lang: str) -> LayersView:
    """Patients per layer of the four dimensions and per special group."""
    from careops.tags import layers_view, service

    result = service.layers(ops, as_of)
    blocks: dict[str, LayerBlock] = {}
    for c in result.counts:
        block = blocks.setdefault(
            c.dimension,
            LayerBlock(c.dimension, layers_view.dimension_label(c.dimension, lang)),
        )
        label = (
            labels.tag_label(c.code, lang)
            if c.dimension == "groups"
            else layers_view.value_label(c.dimension, c.code, lang)
        )
        block.rows.append(LayerRow(c.dimension, c.code, label, c.users, f"{c.share * 100:.1f}%"))
    stale = text("layers.stale", lang) if result.stale else None
    return LayersView(as_of, list(blocks.values()), stale)


@dataclass(frozen=True)
class MigrationView:
    start: date
    end: date
    dimension: str
    dimension_label: str
    columns: list[tuple[str | None, str]]  # (code, label) of the end layers
    rows: list[tuple[str | None, str, list[int]]]  # (code, label, users per column)


def migration(ops: Ops, start: date, end: date, dimension: str, lang: str) -> MigrationView:
    """The migration matrix of one dimension between two dates, as a grid."""
    from careops.tags import layers_view, service
    from careops.tags.registry import get_tag

    result = service.migration(ops, start, end, dimension)
    codes = list(get_tag(dimension).codes)
    froms = [None, *codes] if any(r["from"] is None for r in result.rows) else codes
    cells = {(r["from"], r["to"]): r["users"] for r in result.rows}
    return MigrationView(
        start=start,
        end=end,
        dimension=dimension,
        dimension_label=layers_view.dimension_label(dimension, lang),
        columns=[(c, layers_view.value_label(dimension, c, lang)) for c in codes],
        rows=[
            (
                f,
                layers_view.value_label(dimension, f, lang),
                [cells.get((f, t), 0) for t in codes],
            )
            for f in froms
        ],
    )


# ---------------------------------------------------------------- drill-down


def layer_rule(dimension: str, code: str) -> str:
    """The segment rule of one layer (`lifecycle == "silent"`) or special group (`chronic`);
    only codes of the tag registry are accepted, so no other text reaches the rule."""
    from careops.tags.layers_report import DIMENSIONS, GROUPS
    from careops.tags.registry import get_tag

    if dimension == "groups" and code in GROUPS:
        return code
    if dimension in DIMENSIONS and code in get_tag(dimension).codes:
        return f'{dimension} == "{code}"'
    raise InvalidInput(
        f"没有该分层 / no such layer: {dimension[:40]!r} {code[:40]!r}"
        f" (dimension: {', '.join((*DIMENSIONS, 'groups'))})"
    )


@dataclass(frozen=True)
class PatientRow:
    user_id: str
    summary: str
    layers: list[str]
    name: str
    phone: str


@dataclass(frozen=True)
class DrillView:
    dimension: str
    code: str
    title: str
    as_of: date
    total: int
    offset: int
    limit: int
    patients: list[PatientRow]


def drill(ops: Ops, dimension: str, code: str, as_of: date, offset: int, lang: str) -> DrillView:
    """One page of a layer's patients, each as a masked portrait (each read audited)."""
    from careops.patients import service as patients
    from careops.segments import service as segments
    from careops.tags import layers_view
    from careops.tags.layers_report import DIMENSIONS
    from careops.tags.portrait import summary

    ops.require("segments.export")
    ops.require("patients.portrait")
    rule = layer_rule(dimension, code)
    page = segments.export_page(
        ops, segments.Target(rule=rule), as_of, limit=DRILL_PAGE, offset=offset, lang=lang
    )
    rows = []
    for r in page.rows:
        p = patients.portrait(ops, r["user_id"], as_of)
        contacts = p.contacts or {}
        rows.append(
            PatientRow(
                user_id=p.user_id,
                summary=summary(p.tags, lang),
                layers=[
                    layers_view.value_label(d, p.layers.get(d), lang)
                    for d in DIMENSIONS
                    if p.layers.get(d)
                ],
                name=contacts.get("name") or "—",
                phone=contacts.get("phone") or "—",
            )
        )
    label = (
        labels.tag_label(code, lang)
        if dimension == "groups"
        else f"{layers_view.dimension_label(dimension, lang)} · "
        f"{layers_view.value_label(dimension, code, lang)}"
    )
    return DrillView(dimension, code, label, as_of, page.count, offset, DRILL_PAGE, rows)


#: a layer's list is exported this many ids per read (each read audited as an export page)
EXPORT_PAGE = 10_000
#: the longest list the cockpit exports in one file (larger: `careops segments export`)
EXPORT_MAX = 200_000


def drill_export(ops: Ops, dimension: str, code: str, as_of: date) -> list[str]:
    """Every patient id of a layer (sorted), read page by page through the segments service
    (each page audited as an export); refused above EXPORT_MAX patients."""
    from careops.segments import service as segments

    ops.require("segments.export")
    target = segments.Target(rule=layer_rule(dimension, code))
    ids: list[str] = []
    while True:
        page = segments.export_page(ops, target, as_of, limit=EXPORT_PAGE, offset=len(ids))
        if page.count > EXPORT_MAX:
            raise InvalidInput(
                f"该分层 {page.count} 人, 超过网页导出上限 {EXPORT_MAX}, 请用命令行导出 / "
                f"{page.count} patients is over the cockpit's export limit of {EXPORT_MAX}; "
                "use `careops segments export`"
            )
        ids.extend(r["user_id"] for r in page.rows)
        if not page.rows or len(ids) >= page.count:
            return ids


# ---------------------------------------------------------------- portrait


@dataclass(frozen=True)
class TagRow:
    name: str
    label: str
    value: str
    meaning: str


@dataclass(frozen=True)
class PortraitView:
    user_id: str
    as_of: date
    summary: str
    layers: list[tuple[str, str]]
    groups: list[str]
    tags: list[TagRow]
    contacts: list[tuple[str, str]]
    clinical_kinds: list[tuple[str, str]]


CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "id_number")
KIND_LABELS: dict[str, tuple[str, str]] = {
    "consultations": ("问诊", "Consultations"),
    "observations": ("检测读数", "Readings"),
    "conditions": ("诊断", "Conditions"),
    "prescriptions": ("处方", "Prescriptions"),
    "encounters": ("就诊", "Encounters"),
}
_CONTACT_LABELS = {
    "name": ("姓名", "Name"),
    "phone": ("手机", "Mobile"),
    "email": ("邮箱", "E-mail"),
    "wechat_openid": ("微信", "WeChat"),
    "id_number": ("身份证号", "ID number"),
}


def kind_label(kind: str, lang: str) -> str:
    """问诊 / Consultations … for a record kind."""
    return _pick(KIND_LABELS.get(kind, (kind, kind)), lang)


def layers_dimension_label(dimension: str, lang: str) -> str:
    """生命周期 / Lifecycle … for a layer dimension."""
    from careops.tags import layers_view

    return layers_view.dimension_label(dimension, lang)


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[1] if lang == "en" else pair[0]


def _value_text(name: str, value: Any, lang: str) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.2f}"
    if isinstance(value, list | tuple):
        return ", ".join(labels.value_label(name, v, lang) for v in value) or "—"
    return labels.value_label(name, value, lang) or "—"


def portrait(ops: Ops, user_id: str, as_of: date, lang: str) -> PortraitView:
    """A patient's portrait: tags with their meaning, layers, groups, masked contacts; the
    clinical record kinds only for a caller allowed to read clinical records."""
    from careops.patients import service as patients
    from careops.patients.records import KINDS
    from careops.tags import layers_view
    from careops.tags.portrait import summary

    p = patients.portrait(ops, user_id, as_of)
    tags = [
        TagRow(
            name=name,
            label=labels.tag_label(name, lang),
            value=_value_text(name, value, lang),
            meaning=labels.tag_description(name, lang),
        )
        for name, value in sorted(p.tags.items())
    ]
    contacts = [
        (_pick(_CONTACT_LABELS[f], lang), (p.contacts or {}).get(f) or "—")
        for f in CONTACT_FIELDS
        if p.contacts and (p.contacts or {}).get(f)
    ]
    kinds = (
        [(k, _pick(KIND_LABELS[k], lang)) for k in KINDS]
        if ops.actor.can("patients.clinical")
        else []
    )
    return PortraitView(
        user_id=p.user_id,
        as_of=p.as_of,
        summary=summary(p.tags, lang),
        layers=[
            (
                layers_view.dimension_label(d, lang),
                layers_view.value_label(d, code, lang) if code else "—",
            )
            for d, code in p.layers.items()
        ],
        groups=[labels.tag_label(g, lang) for g in p.groups],
        tags=tags,
        contacts=contacts,
        clinical_kinds=kinds,
    )


@dataclass(frozen=True)
class RecordsView:
    kind: str
    columns: list[str]  # headings in the page's language
    rows: list[list[str]]
    total: int
    offset: int
    limit: int


def records(ops: Ops, user_id: str, kind: str, offset: int, lang: str = "zh") -> RecordsView:
    """One page of a patient's clinical records of one kind (scope checked and audited by the
    patients service); times in the hospital's timezone, headings from the canonical schema."""
    from careops.patients import service as patients
    from careops.patients.records import KINDS, record_columns
    from careops.schema import TABLES

    if kind not in KINDS:
        raise InvalidInput(f"记录类型不存在 / unknown record kind; use one of {', '.join(KINDS)}")
    page = patients.records(ops, user_id, kind, limit=RECORDS_PAGE, offset=offset)  # type: ignore[arg-type]
    names = [c for c in record_columns(kind) if c != "user_id"]  # type: ignore[arg-type]
    zh = {c.name: c.label_zh for c in TABLES[kind].columns}
    headings = [(zh.get(c) or c) if lang == "zh" else c for c in names]
    tz = ops.settings.tz
    rows = [[_cell(item.get(c), tz) for c in names] for item in page.items]
    return RecordsView(kind, headings, rows, page.total, offset, RECORDS_PAGE)


def _cell(value: Any, tz: Any) -> str:
    if value is None:
        return ""
    if hasattr(value, "hour"):
        if value.tzinfo is not None:
            value = value.astimezone(tz)
        return value.strftime("%Y-%m-%d %H:%M")
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


# ---------------------------------------------------------------- audit


@dataclass(frozen=True)
class AuditView:
    entries: list[Any]
    total: int
    offset: int
    limit: int
    chain_ok: bool | None  # None: not verified on this view
    chain_text: str


def audit(
    ops: Ops,
    lang: str,
    *,
    actor: str | None,
    action: str | None,
    subject: str | None,
    offset: int,
    verify: bool = False,
) -> AuditView:
    """A page of the audit trail (newest first); with `verify`, the hash chain's state (a
    full pass over the trail, itself audited, so only when asked)."""
    from careops.state import audit_trail
    from careops.state.audit_trail import AuditFilter

    where = AuditFilter(actor=actor, action=action, subject=subject)
    entries, total = audit_trail.read_trail(ops, where, limit=AUDIT_PAGE, offset=offset)
    if not verify:
        return AuditView(entries, total, offset, AUDIT_PAGE, None, "")
    check = audit_trail.verify(ops)
    chain = (
        text("audit.chain_ok", lang, n=check.rows)
        if check.ok
        else text("audit.chain_broken", lang, id=check.broken_id, reason=check.reason)
    )
    return AuditView(entries, total, offset, AUDIT_PAGE, check.ok, chain)
