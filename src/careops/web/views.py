"""What each cockpit page shows, from the same service functions the HTTP API calls.

Each function takes the caller's `Ops` (whose permissions and patient scope the services
enforce and audit), calls one or a few `careops.<domain>.service` functions, and turns their
codes and numbers into display rows in the page's language. No warehouse is opened here.
"""

from __future__ import annotations

import threading
import time
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
    ("funnels", "metrics.read"),
    ("portrait", "patients.portrait"),
    ("tasks", "tasks.read"),
    ("experiments", "experiments.read"),
    ("segments", "segments.read"),
    ("journeys", "journeys.read"),
    ("triage", "triage.run"),
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
    length (a metric without a window: the default window of the metrics settings). The
    metrics of one date are computed together (`metrics.service.metrics_at`: one connection,
    one as-of frame), so the page costs one pass per distinct date, not one per number."""
    from careops.metrics import service
    from careops.metrics.registry import get_metric

    now = service.metrics_at(ops, OVERVIEW_KPIS, as_of, lang=lang)
    if len(now) < len(OVERVIEW_KPIS):  # as of a day before any data: the metric's own error
        service.metric(ops, OVERVIEW_KPIS[0], as_of, lang=lang)
    prev_day: dict[str, date] = {}
    for name in OVERVIEW_KPIS:
        window = int(now[name].params.get("window_days") or ops.settings.metrics.window_days)
        prev_day[name] = as_of - timedelta(days=window)
    previous: dict[str, Any] = {}
    for day in sorted(set(prev_day.values())):
        names = [n for n in OVERVIEW_KPIS if prev_day[n] == day]
        previous.update(service.metrics_at(ops, names, day, lang=lang))
    cards = []
    for name in OVERVIEW_KPIS:
        r = now[name]
        prev_value = previous[name].value if name in previous else None
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
    for p in patients.portraits(ops, [r["user_id"] for r in page.rows], as_of):
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
    """Every patient id of a layer (sorted); see `export_ids`."""
    from careops.segments import service as segments

    return export_ids(ops, segments.Target(rule=layer_rule(dimension, code)), as_of)


def export_ids(ops: Ops, target: Any, as_of: date) -> list[str]:
    """Every patient id a segment target matches (sorted), read page by page through the
    segments service (each page audited as an export); refused above EXPORT_MAX patients."""
    from careops.segments import service as segments

    ops.require("segments.export")
    ids: list[str] = []
    while True:
        page = segments.export_page(ops, target, as_of, limit=EXPORT_PAGE, offset=len(ids))
        if page.count > EXPORT_MAX:
            raise InvalidInput(
                f"该人群 {page.count} 人, 超过网页导出上限 {EXPORT_MAX}, 请用命令行导出 / "
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
class ModelInfo:
    model_id: str
    trained_as_of: str
    trained_at: str


@dataclass(frozen=True)
class ScoresView:
    """The model scores stored for a patient (smart tags) and the model behind the churn
    score: the newest churn model registered as of the scoring day, which is the one
    `careops churn score` uses unless told otherwise (the scores table keeps no model id)."""

    churn_score: int | None
    churn_band: str  # high | mid | low | none
    churn_reasons: list[str]
    churn_driver: str | None
    churn_scored_as_of: str | None
    churn_model: ModelInfo | None
    predicted_ltv: str | None
    ltv_tier: str | None
    next_need: str | None


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
    scores: ScoresView | None = None
    can_recommend: bool = False


CONTACT_FIELDS = ("name", "phone", "email", "wechat_openid", "id_number")


def kind_label(kind: str, lang: str) -> str:
    """问诊 / Consultations … for a record kind."""
    return labels.label_or(f"page.kind.{kind}", kind, lang)


def layers_dimension_label(dimension: str, lang: str) -> str:
    """生命周期 / Lifecycle … for a layer dimension."""
    from careops.tags import layers_view

    return layers_view.dimension_label(dimension, lang)


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
        (text(f"contact.{f}", lang), (p.contacts or {}).get(f) or "—")
        for f in CONTACT_FIELDS
        if p.contacts and (p.contacts or {}).get(f)
    ]
    kinds = [(k, kind_label(k, lang)) for k in KINDS] if ops.actor.can("patients.clinical") else []
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
        scores=scores_view(ops, p.tags, lang),
        can_recommend=ops.actor.can("models.read"),
    )


#: churn score bands, as the churn service's summary counts them
CHURN_HIGH, CHURN_MID = 80, 50


def churn_band(score: int | None) -> str:
    """high (≥ 80), mid (50–79), low (< 50), none when not scored."""
    if score is None:
        return "none"
    return "high" if score >= CHURN_HIGH else "mid" if score >= CHURN_MID else "low"


def _churn_model(ops: Ops, day: date) -> ModelInfo | None:
    """The churn model registered as of `day` (None: none registered, or no models.read)."""
    from careops.errors import CareOpsError
    from careops.models.churn import service as churn

    if not ops.actor.can("models.read"):
        return None
    try:
        meta = churn.registry(ops).latest("churn", day)
    except CareOpsError:
        return None
    return ModelInfo(meta.model_id, meta.as_of, meta.trained_at[:19].replace("T", " "))


def scores_view(ops: Ops, tags: dict[str, Any], lang: str) -> ScoresView | None:
    """The patient's stored model scores (churn with reasons, predicted LTV, next need), None
    when no model has scored them."""
    score = tags.get("churn_score")
    ltv = tags.get("predicted_ltv")
    need = tags.get("next_need")
    if score is None and ltv is None and need is None:
        return None
    scored = tags.get("churn_scored_as_of")
    day = date.fromisoformat(str(scored)[:10]) if scored else None
    reasons = [r.strip() for r in str(tags.get("churn_reasons") or "").split(";") if r.strip()]
    return ScoresView(
        churn_score=int(score) if score is not None else None,
        churn_band=churn_band(int(score) if score is not None else None),
        churn_reasons=reasons,
        churn_driver=labels.value_label("churn_driver", tags["churn_driver"], lang)
        if tags.get("churn_driver")
        else None,
        churn_scored_as_of=day.isoformat() if day else None,
        churn_model=_churn_model(ops, day) if day else None,
        predicted_ltv=f"¥{float(ltv):,.0f}" if ltv is not None else None,
        ltv_tier=labels.value_label("ltv_tier_predicted", tags["ltv_tier_predicted"], lang)
        if tags.get("ltv_tier_predicted")
        else None,
        next_need=labels.value_label("next_need", need, lang) if need else None,
    )


RECOMMEND_TOP = 5


def recommendations(ops: Ops, user_id: str, as_of: date) -> tuple[list[Any], str | None]:
    """The patient's top recommendations (`careops.models.recommend.service.recommend`, the
    function behind `careops recommend for` and the API) after the patient-scope check of
    the portrait; ([], None) when no recommendation model is registered yet."""
    from careops.errors import NotFound
    from careops.models.recommend import service as recommend
    from careops.privacy.access import check_patient_access

    ops.require("models.read")
    with ops.warehouse(read_only=True) as con:
        check_patient_access(ops, user_id, "patients.portrait", con=con)
    try:
        result = recommend.recommend(ops, user_id, as_of, top=RECOMMEND_TOP)
    except NotFound as exc:
        if getattr(exc, "field", None) == "as_of":  # the registry has no model as of then
            return [], None
        raise
    return list(result.items), result.model_id


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


# ---------------------------------------------------------------- tasks

#: the task queue shows this many to a page, sorted by urgency over at most TASKS_SORTED tasks
TASKS_PAGE = 20
TASKS_SORTED = 1000
TASK_STATUSES = ("open", "done", "all")


@dataclass(frozen=True)
class TaskRow:
    id: int
    title: str
    user_id: str | None
    patient_name: str  # masked (张*), or — when the caller may not read the patient
    purpose: str
    purpose_label: str
    assignee: str
    due_text: str  # hospital time
    urgency: str  # overdue | alert | soon | normal | closed
    status: str
    status_label: str
    outcome: str
    closable: bool


@dataclass(frozen=True)
class TasksView:
    status: str
    rows: list[TaskRow]
    total: int
    offset: int
    limit: int
    capped: bool  # the queue is longer than TASKS_SORTED: only the first ones were sorted


def task_urgency(task: Any, at: Any) -> tuple[int, str]:
    """The queue's order: overdue first, then medical tasks due within the hour, then due
    within the hour, then the rest (each by priority, then due time); closed ones last."""
    if task.status != "open":
        return 4, "closed"
    if task.due_at < at:
        return 0, "overdue"
    soon = task.due_at <= at + timedelta(hours=1)
    if soon and task.purpose == "medical":
        return 1, "alert"
    return (2, "soon") if soon else (3, "normal")


def tasks(ops: Ops, status: str, offset: int, lang: str, at: Any = None) -> TasksView:
    """One page of the caller's task queue (`careops.tasks.service.my_tasks`: its role's scope),
    most urgent first; each patient's name masked, read only where the caller's patient scope
    allows it (each name read audited like a portrait's)."""
    from careops.service import now
    from careops.tasks.service import my_tasks
    from careops.tasks.store import TaskFilter

    if status not in TASK_STATUSES:
        raise InvalidInput(f"status: 应为 / one of {', '.join(TASK_STATUSES)}")
    at = at or now()
    wanted = None if status == "all" else status
    items, total = my_tasks(ops, TaskFilter(status=wanted), limit=TASKS_SORTED)
    if status == "done":  # closed: done or cancelled
        cancelled, n = my_tasks(ops, TaskFilter(status="cancelled"), limit=TASKS_SORTED)
        items, total = items + cancelled, total + n
    ranked = sorted(items, key=lambda t: (task_urgency(t, at)[0], t.priority, t.due_at, t.id))
    page = ranked[offset : offset + TASKS_PAGE]
    names = _masked_names(ops, {t.user_id for t in page if t.user_id})
    tz = ops.settings.tz
    can_work = ops.actor.can("tasks.work")
    rows = [
        TaskRow(
            id=t.id,
            title=t.title,
            user_id=t.user_id,
            patient_name=names.get(t.user_id or "", "—"),
            purpose=t.purpose,
            purpose_label=labels.label_or(f"page.tasks.purpose.{t.purpose}", t.purpose, lang),
            assignee=t.assignee or t.assignee_role,
            due_text=t.due_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            urgency=task_urgency(t, at)[1],
            status=t.status,
            status_label=labels.label_or(f"page.tasks.state.{t.status}", t.status, lang),
            outcome=t.outcome or "",
            closable=can_work and t.status == "open",
        )
        for t in page
    ]
    return TasksView(status, rows, total, offset, TASKS_PAGE, total > len(items))


def _masked_names(ops: Ops, user_ids: set[str]) -> dict[str, str]:
    """The masked names of the patients the caller may read (portrait scope); audited."""
    from careops.errors import Forbidden, NotFound
    from careops.patients.service import masked_contacts
    from careops.privacy.access import check_patient_access

    if not user_ids or not ops.actor.can("patients.portrait"):
        return {}
    out: dict[str, str] = {}
    with ops.warehouse(read_only=True) as con:
        for uid in sorted(user_ids):
            try:
                access = check_patient_access(ops, uid, "patients.portrait", con=con)
            except (Forbidden, NotFound, InvalidInput):
                continue
            contacts = masked_contacts(con, uid, ops.settings) or {}
            if contacts.get("name"):
                out[uid] = contacts["name"]
                ops.audit(
                    "patient.read",
                    uid,
                    {"fields": ["contacts:masked:name"], "via": "tasks", "scope": access.scope},
                    subject=uid,
                )
    return out


def finish_task(ops: Ops, task_id: int, action: str, note: str) -> Any:
    """Close one of the caller's tasks as done or cancelled with a note (the tasks service
    checks the permission, the scope and that it is still open; audited there)."""
    from careops.tasks.service import finish_task as finish

    if action not in ("done", "cancel"):
        raise InvalidInput("action: 应为 done 或 cancel / done or cancel")
    note = note.strip()
    if len(note) > 500 or not note.isprintable():
        raise InvalidInput("note: 至多 500 个可打印字符 / up to 500 printable characters")
    return finish(ops, task_id, outcome=note, cancel=action == "cancel")


# ---------------------------------------------------------------- experiments


@dataclass(frozen=True)
class ExperimentRow:
    key: str
    name: str
    status: str
    status_label: str
    variants: str  # control 50% · coupon 50%
    segment: str
    start: str
    end: str
    primary: str


def _when(value: Any, tz: Any) -> str:
    return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value is not None else "—"


def experiment_row(e: Any, ops: Ops, lang: str) -> ExperimentRow:
    """One experiment as a display row (times in hospital time)."""
    tz = ops.settings.tz
    return ExperimentRow(
        key=e.key,
        name=e.name or e.key,
        status=e.status,
        status_label=labels.label(f"experiment.status_{e.status}", lang),
        variants=" · ".join(f"{v.name} {v.weight:.0%}" for v in e.variants),
        segment=e.segment or labels.label("experiment.everyone", lang),
        start=_when(e.start, tz),
        end=_when(e.end, tz),
        primary=", ".join(labels.metric_label(m, lang) for m in e.primary_metrics),
    )


def experiments(ops: Ops, lang: str) -> list[ExperimentRow]:
    """Every stored experiment with its status now (`careops.experiments.service`)."""
    from careops.experiments import service

    ops.require("experiments.read")
    return [experiment_row(e, ops, lang) for e in service.list_experiments(ops)]


@dataclass(frozen=True)
class ArmRow:
    variant: str
    is_control: bool
    n: int
    mean: str
    lift: str  # absolute lift [CI]
    relative: str  # relative lift [CI]
    p_value: str
    adjusted_p: str
    chance: str
    significant: bool
    error: str
    # the numbers behind the chart (None: no comparison)
    lift_value: float | None = None
    ci: tuple[float, float] | None = None


@dataclass(frozen=True)
class MetricBlock:
    name: str
    label: str
    role: str
    kind: str
    level: str  # 95%
    arms: list[ArmRow]
    srm_p: str
    srm_flagged: bool
    srm_text: str


@dataclass(frozen=True)
class ExperimentView:
    row: ExperimentRow
    as_of: date
    exposed: dict[str, int]
    metrics: list[MetricBlock]
    decision: str
    decision_tone: str  # good | bad | neutral | warn
    can_stop: bool


def _num(value: float | None) -> str:
    import math

    if value is None or not math.isfinite(value):
        return "—"
    return f"{value:.4g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.3e}"


def _pct(value: float | None) -> str:
    import math

    return "—" if value is None or not math.isfinite(value) else f"{value:+.2%}"


def _p(value: float | None) -> str:
    import math

    if value is None or not math.isfinite(value):
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def _arm(row: Any, alpha: float, lang: str) -> ArmRow:
    from careops.experiments.stats.results import error_message

    f, b = row.frequentist, row.bayesian
    base = {"variant": row.variant, "is_control": row.is_control, "n": row.n}
    mean = _num(row.mean) if row.n else "—"
    if row.is_control or f is None:
        return ArmRow(
            **base,
            mean=mean,
            lift="",
            relative="",
            p_value="",
            adjusted_p="",
            chance="",
            significant=False,
            error="",
        )
    if f.error:
        return ArmRow(
            **base,
            mean=mean,
            lift="",
            relative="",
            p_value="—",
            adjusted_p="—",
            chance="—",
            significant=False,
            error=error_message(f.error, lang),
        )
    lo, hi = f.absolute_ci
    relative = (
        "—"
        if f.relative_lift is None or f.relative_ci is None
        else f"{_pct(f.relative_lift)} [{_pct(f.relative_ci[0])}, {_pct(f.relative_ci[1])}]"
    )
    p = row.adjusted_p_value if row.adjusted_p_value is not None else f.p_value
    return ArmRow(
        **base,
        mean=mean,
        lift=f"{_num(f.absolute_lift)} [{_num(lo)}, {_num(hi)}]",
        relative=relative,
        p_value=_p(f.p_value),
        adjusted_p=_p(row.adjusted_p_value),
        chance="—" if b is None or b.error else f"{b.chance_to_win:.1%}",
        significant=p < alpha,
        error="",
        lift_value=f.absolute_lift,
        ci=(lo, hi),
    )


def decision(outcome: Any, lang: str) -> tuple[str, str]:
    """What the analysis supports, in words: (tone, text). A sample-ratio mismatch voids it;
    otherwise a treatment is recommended when a primary metric improves significantly (the
    adjusted p-value where there is one) and no guardrail gets significantly worse."""
    zh = lang != "en"
    m = outcome.metrics
    if any(x.analysis.srm.flagged for x in m):
        return "bad", labels.label("experiment.srm_bad", lang) + (
            "。请先排查分流与埋点, 勿据此决策" if zh else ". Fix the assignment before deciding"
        )

    def moved(x: Any) -> dict[str, int]:  # variant -> +1 better / -1 worse (significant)
        out = {}
        for r in x.analysis.variants:
            f = r.frequentist
            if r.is_control or f is None or f.error:
                continue
            p = r.adjusted_p_value if r.adjusted_p_value is not None else f.p_value
            if p < x.analysis.alpha and f.absolute_lift != 0:
                up = f.absolute_lift > 0
                out[r.variant] = 1 if up != (x.name in LOWER_IS_BETTER) else -1
        return out

    primary = [x for x in m if x.role != "guardrail"]
    guard = [x for x in m if x.role == "guardrail"]
    harmed = {
        v: labels.metric_label(x.name, lang) for x in guard for v, d in moved(x).items() if d < 0
    }
    wins: dict[str, list[str]] = {}
    losses: dict[str, list[str]] = {}
    for x in primary:
        for v, d in moved(x).items():
            (wins if d > 0 else losses).setdefault(v, []).append(labels.metric_label(x.name, lang))
    good = {v: ms for v, ms in wins.items() if v not in harmed and v not in losses}
    if good:
        v, ms = next(iter(sorted(good.items())))
        return "good", (
            f"{v} 在 {'、'.join(ms)} 上显著优于对照组, 护栏指标未变差: 建议采用 {v}"
            if zh
            else f"{v} beats control on {', '.join(ms)} with no guardrail harmed: adopt {v}"
        )
    if harmed:
        v, name = next(iter(sorted(harmed.items())))
        return "bad", (
            f"{v} 的护栏指标 {name} 显著变差: 不建议采用"
            if zh
            else f"{v} makes the guardrail {name} significantly worse: do not adopt"
        )
    if losses:
        v, ms = next(iter(sorted(losses.items())))
        return "bad", (
            f"{v} 在 {'、'.join(ms)} 上显著差于对照组: 建议停止并保留对照方案"
            if zh
            else f"{v} is significantly worse on {', '.join(ms)}: stop and keep control"
        )
    return "neutral", (
        "尚无显著差异: 继续收集数据, 达到计划样本量后再决策"
        if zh
        else "No significant difference yet: keep collecting until the planned sample size"
    )


def experiment(ops: Ops, key: str, as_of: date | None, lang: str) -> ExperimentView:
    """One experiment: its design, the analysis of its own metrics (intervals, p-values, chance
    to win, SRM) as of a date, and the decision it supports."""
    from careops.experiments import service

    ops.require("experiments.read")
    stored = service.get(ops, key)
    public = stored.public()
    try:
        outcome = service.analyze_stored(ops, key, as_of=as_of, lang=lang)
    except InvalidInput as exc:  # not started, nobody exposed yet, an as-of before its start
        return ExperimentView(
            row=experiment_row(public, ops, lang),
            as_of=as_of or default_as_of(ops),
            exposed={},
            metrics=[],
            decision=text("experiments.no_analysis", lang, reason=str(exc)),
            decision_tone="neutral",
            can_stop=ops.actor.can("experiments.write") and public.status == "running",
        )
    level = None
    blocks = []
    for x in outcome.metrics:
        a = x.analysis
        level = f"{1 - a.alpha:.0%}"
        blocks.append(
            MetricBlock(
                name=x.name,
                label=labels.metric_label(x.name, lang),
                role=labels.label(f"experiment.role_{x.role or 'primary'}", lang),
                kind=labels.label(f"experiment.kind_{a.kind}", lang),
                level=level,
                arms=[_arm(r, a.alpha, lang) for r in a.variants],
                srm_p=_p(a.srm.p_value),
                srm_flagged=a.srm.flagged,
                srm_text=labels.label(
                    "experiment.srm_bad" if a.srm.flagged else "experiment.srm_ok", lang
                ),
            )
        )
    tone, text_ = decision(outcome, lang)
    return ExperimentView(
        row=experiment_row(public, ops, lang),
        as_of=outcome.as_of,
        exposed=dict(outcome.exposed),
        metrics=blocks,
        decision=text_,
        decision_tone=tone,
        can_stop=ops.actor.can("experiments.write") and public.status == "running",
    )


def stop_experiment(ops: Ops, key: str) -> Any:
    """End a running experiment now (audited by the experiments service)."""
    from careops.experiments import service

    ops.require("experiments.write")
    return service.stop(ops, key)


# ---------------------------------------------------------------- segments

#: the longest rule the cockpit's box takes (longer ones: `careops segment count --file`)
MAX_RULE = 4000
SEGMENT_SAMPLE = 10


@dataclass(frozen=True)
class SampleRow:
    user_id: str
    name: str  # masked, or — when the caller may not read the patient


@dataclass(frozen=True)
class SegmentResult:
    rule: str
    rule_text: str  # the rule as the DSL reads it back
    as_of: date
    count: int | None
    sample: list[SampleRow]
    ids_withheld: bool  # analysts: counts, no patient ids
    notes: list[str]
    error: str  # the rule's problem (position and reason), else ""


def check_rule_text(rule: str) -> str:
    """The rule box's text, bounded (`MAX_RULE` characters; newlines and tabs allowed)."""
    rule = rule.strip()
    if not rule:
        raise InvalidInput("rule: 请输入规则 / type a rule")
    if len(rule) > MAX_RULE:
        raise InvalidInput(f"rule: 最多 {MAX_RULE} 个字符 / at most {MAX_RULE} characters")
    if any(not (c.isprintable() or c in "\n\r\t") for c in rule):
        raise InvalidInput("rule: 含控制字符 / has control characters")
    return rule


def segment_result(ops: Ops, rule: str, as_of: date, lang: str) -> SegmentResult:
    """A rule's live count and a sample of its patients as of a date (`careops.segments`):
    ids (with masked names, audited) only for callers who may see patients one by one; a
    rule that does not parse or check is an answer naming where and why, not an error page."""
    from careops.privacy.access import sees_patient_ids
    from careops.segments import service

    ops.require("segments.read")
    rule = check_rule_text(rule)
    shown = sees_patient_ids(ops.actor, "segments.read")
    try:
        if shown:
            e = service.sample(ops, service.Target(rule=rule), as_of, SEGMENT_SAMPLE, lang)
        else:
            e = service.count(ops, service.Target(rule=rule), as_of, lang)
    except InvalidInput as exc:
        return SegmentResult(rule, "", as_of, None, [], not shown, [], str(exc))
    count = e.count
    if shown:  # sample() counts the rows it returns; the total is a count
        count = service.count(ops, service.Target(rule=rule), as_of, lang).count
    ids = [r["user_id"] for r in e.rows] if shown else []
    names = _masked_names(ops, set(ids))
    sample = [SampleRow(u, names.get(u, "—")) for u in ids]
    return SegmentResult(rule, e.rule_text, as_of, count, sample, not shown, list(e.notes), "")


@dataclass(frozen=True)
class SavedRow:
    name: str
    version: int
    rule_text: str
    description: str
    saved_at: str
    saved_by: str


def saved_segments(ops: Ops) -> list[SavedRow]:
    """The saved segments (current version of each), saved times in hospital time."""
    from careops.segments import service

    ops.require("segments.read")
    tz = ops.settings.tz
    return [
        SavedRow(
            s.name,
            s.version,
            s.rule_text,
            s.description,
            s.saved_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            s.saved_by,
        )
        for s in service.list_saved(ops)
    ]


def saved_rule(ops: Ops, name: str) -> str:
    """The rule text of a saved segment (to open it in the box)."""
    from careops.segments import service

    ops.require("segments.read")
    return service.get(ops, name).rule_text


def save_segment(ops: Ops, name: str, rule: str, description: str, lang: str) -> Any:
    """Save the rule under a name (a new version when it exists), audited by the service."""
    from careops.segments import service
    from careops.segments.saved import SegmentCreate

    ops.require("segments.write")
    rule = check_rule_text(rule)
    description = description.strip()
    if len(description) > 500 or not description.isprintable():
        raise InvalidInput("description: 至多 500 个可打印字符 / up to 500 printable characters")
    saved, _ = service.save(ops, SegmentCreate(name=name, rule=rule, description=description), lang)
    return saved


@dataclass(frozen=True)
class RuleTag:
    name: str
    label: str
    type: str  # category | string | int | float | bool
    values: list[tuple[str, str]]  # (code, label) of a category tag


#: the tag types the visual editor builds conditions for (dates: type them in the box)
EDITOR_TYPES = ("category", "string", "int", "float", "bool")


def rule_vocabulary(lang: str) -> list[RuleTag]:
    """The tags the visual rule editor offers (from the tag registry), by label."""
    from careops.tags.registry import all_tags

    tags = [
        RuleTag(
            t.name,
            t.label(lang),
            t.type,
            [(code, en if lang == "en" else zh) for code, zh, en in t.values],
        )
        for t in all_tags()
        if t.type in EDITOR_TYPES
    ]
    return sorted(tags, key=lambda t: t.label)


# ---------------------------------------------------------------- journeys

#: the measured counts of a step, in the order of the stats table
STEP_COUNTS: tuple[str, ...] = (
    "reached",
    "sent",
    "delivered",
    "suppressed",
    "opened",
    "clicked",
    "converted",
)
JOURNEY_WINDOW_DAYS = 7


@dataclass(frozen=True)
class JourneyRow:
    key: str | None
    name: str
    origin: str
    origin_label: str
    valid: bool
    error: str
    trigger: str
    steps: int | None
    enabled: bool | None
    warnings: int


def journeys(ops: Ops, lang: str) -> list[JourneyRow]:
    """The journey catalogue (`careops.journeys.service.list_journeys`): shipped templates and
    the hospital's own, valid or not, and whether each runs live."""
    from careops.journeys.service import list_journeys

    rows = []
    for j in list_journeys(ops):
        name = (j.name_en if lang == "en" else j.name_zh) or j.key or "—"
        rows.append(
            JourneyRow(
                key=j.key,
                name=name,
                origin=j.origin,
                origin_label=labels.label_or(f"page.journeys.origin.{j.origin}", j.origin, lang),
                valid=j.valid,
                error=(j.error or "")[:300],
                trigger=labels.label_or(f"page.journeys.trigger.{j.trigger}", "—", lang),
                steps=j.steps,
                enabled=j.enabled,
                warnings=len(j.warnings),
            )
        )
    return rows


@dataclass(frozen=True)
class FlowStep:
    """One step of a journey's flow: what it does and where it goes (`exit`: the end)."""

    n: int
    id: str
    type: str
    type_label: str
    detail: str
    goes: list[tuple[str, str]]  # (condition or arm, target step id or exit)


@dataclass(frozen=True)
class StepStatRow:
    step: str
    counts: dict[str, int]
    revenue: str


@dataclass(frozen=True)
class JourneyView:
    key: str
    name: str
    description: str
    origin_label: str
    version: int | None
    enabled: bool
    changed: str  # who switched it last and when, or ""
    note: str
    trigger: str
    flow: list[FlowStep]
    stats: list[StepStatRow]
    entered: int
    exited: list[tuple[str, int]]
    window_days: int
    can_write: bool


def _rule_text(rule: Any) -> str:
    """A rule of the definition as the DSL text (a structured rule as compact JSON)."""
    import json

    from careops.segments.rules import parse_rule, to_text

    if isinstance(rule, dict) and "rule" in rule:
        rule = rule["rule"]
    if isinstance(rule, str):
        return rule
    try:
        return to_text(parse_rule(rule))
    except Exception:  # a form the reader does not know: shown as stored
        return json.dumps(rule, ensure_ascii=False)


def _trigger_text(trigger: dict[str, Any], lang: str) -> str:
    kind = trigger.get("kind", "")
    head = labels.label_or(f"page.journeys.trigger.{kind}", kind, lang)
    if kind == "event":
        tail = trigger.get("event", "")
        if trigger.get("where"):
            tail += f" · {_rule_text(trigger['where'])}"
    elif kind in ("segment_entry", "segment_exit"):
        tail = trigger.get("segment") or _rule_text(trigger.get("rule") or "")
    elif kind in ("layer_entry", "layer_exit"):
        tail = labels.value_label(trigger["tag"], trigger["value"], lang)
        tail = f"{labels.tag_label(trigger['tag'], lang)} = {tail}"
    elif kind == "date":
        tail = f"{trigger.get('attribute')} {trigger.get('offset_days', 0):+d}d {trigger.get('at')}"
    elif kind == "schedule":
        tail = f"{trigger.get('every')} {trigger.get('at')}"
    else:
        tail = ""
    return f"{head}: {tail}" if tail else head


def _step_detail(s: dict[str, Any], lang: str) -> str:
    kind = s.get("type")
    zh = lang != "en"
    if kind == "wait":
        if s.get("for"):
            return f"等待 {s['for']}" if zh else f"wait {s['for']}"
        if s.get("until"):
            return f"等到 {s['until']}" if zh else f"until {s['until']}"
        return (
            f"等待事件 {s.get('event')}, 最长 {s.get('timeout')}"
            if zh
            else f"wait for {s.get('event')}, at most {s.get('timeout')}"
        )
    if kind == "message":
        template = s.get("template") or {}
        body = template.get("en") if not zh and template.get("en") else template.get("zh")
        return f"{s.get('channel')} · {s.get('purpose')} · {str(body or '')[:120]}"
    if kind == "coupon":
        amount, days = f"¥{s.get('amount_cny'):g}", s.get("valid_days")
        return f"{amount} · {days} 天有效" if zh else f"{amount} · valid {days} days"
    if kind == "points":
        return f"{s.get('points')} 分" if zh else f"{s.get('points')} points"
    if kind == "task":
        return f"{s.get('assignee')} · {s.get('title')} · {s.get('due')}"
    if kind == "webhook":
        return f"{s.get('method')} {str(s.get('url'))[:80]}"
    if kind == "split" and s.get("holdout"):
        return f"留出 {s['holdout']:.0%}" if zh else f"holdout {s['holdout']:.0%}"
    return ""


def journey_flow(definition: dict[str, Any], lang: str) -> list[FlowStep]:
    """The steps of a definition in order, each with where it goes: a branch's conditions, a
    split's arms, an event wait's timeout, else `next` or the step after it (the last: exit)."""
    from careops.journeys.definition import EXIT

    steps = definition.get("steps") or []
    zh = lang != "en"
    out = []
    for i, s in enumerate(steps):
        kind = s.get("type", "")
        goes: list[tuple[str, str]] = []
        if kind == "branch":
            for b in s.get("branches") or []:
                goes.append(((("当 " if zh else "when ") + _rule_text(b.get("when"))), b["goto"]))
            goes.append(("否则" if zh else "otherwise", s["otherwise"]))
        elif kind == "split":
            for a in s.get("arms") or []:
                goes.append((f"{a['name']} {a['weight']:.0%}", a["goto"]))
        if kind == "wait" and s.get("on_timeout"):
            goes.append(("超时" if zh else "on timeout", s["on_timeout"]))
        if kind not in ("branch", "split") or s.get("next"):
            following = steps[i + 1]["id"] if i + 1 < len(steps) else EXIT
            goes.append(("然后" if zh else "then", s.get("next") or following))
        out.append(
            FlowStep(
                n=i + 1,
                id=s.get("id", ""),
                type=kind,
                type_label=labels.label_or(f"page.journeys.step_type.{kind}", kind, lang),
                detail=_step_detail(s, lang),
                goes=goes,
            )
        )
    return out


def journey(ops: Ops, key: str, lang: str, window_days: int = JOURNEY_WINDOW_DAYS) -> JourneyView:
    """One journey: its flow (`show_journey`), its switch, and its per-step measurement
    (`careops.journeys.measure.measure`, last-touch attribution within `window_days`), steps
    in the order of the flow."""
    from careops.journeys import switch
    from careops.journeys.measure import measure
    from careops.journeys.service import show_journey

    detail = show_journey(ops, key)
    definition = detail.definition
    flow = journey_flow(definition, lang)
    m = measure(ops, detail.key or key, window_days=window_days)
    order = {f.id: f.n for f in flow}
    stats = [
        StepStatRow(
            step=s.step,
            counts={c: int(getattr(s, c)) for c in STEP_COUNTS},
            revenue=f"¥{s.revenue:,.2f}",
        )
        for s in sorted(m.steps, key=lambda s: (order.get(s.step, 10**6), s.step))
    ]
    state = switch.state_of(ops, detail.key or key, detail.origin)
    changed = ""
    if state.changed_at is not None:
        changed = f"{state.changed_by} · {_when(state.changed_at, ops.settings.tz)}"
    description = definition.get("description") or ""
    return JourneyView(
        key=detail.key or key,
        name=(detail.name_en if lang == "en" else detail.name_zh) or key,
        description=description,
        origin_label=labels.label_or(f"page.journeys.origin.{detail.origin}", detail.origin, lang),
        version=detail.version,
        enabled=bool(detail.enabled),
        changed=changed,
        note=state.note,
        trigger=_trigger_text(definition.get("trigger") or {}, lang),
        flow=flow,
        stats=stats,
        entered=m.entered,
        exited=sorted((k or "—", int(v)) for k, v in m.exited.items()),
        window_days=m.window_days,
        can_write=ops.actor.can("journeys.write"),
    )


def switch_journey(ops: Ops, key: str, enabled: bool, note: str) -> Any:
    """Switch a journey on or off with a note (`careops.journeys.switch.set_enabled`: checks
    `journeys.write` and the key, audits who and why)."""
    from careops.journeys.switch import set_enabled

    note = note.strip()
    if len(note) > 500 or not note.isprintable():
        raise InvalidInput("note: 至多 500 个可打印字符 / up to 500 printable characters")
    return set_enabled(ops, key, enabled, note)


# ---------------------------------------------------------------- triage

#: the longest complaint the box takes (a form post stays under `pages.MAX_FORM` bytes)
MAX_TRIAGE_TEXT = 500
TRIAGE_TOP = 5
TRIAGE_DOCTORS = 5
#: the catalogue and doctors are read from the warehouse at most this often per app
TRIAGE_CACHE_S = 300.0
_triage_lock = threading.Lock()


@dataclass(frozen=True)
class TriageView:
    emergency: dict[str, Any] | None
    departments: list[dict[str, Any]]
    doctors: list[dict[str, Any]]
    paediatric: bool
    recognised: bool
    found: list[str]
    negated: list[str]


def check_triage_text(text: str) -> str:
    """The complaint as typed: 1–`MAX_TRIAGE_TEXT` characters, no control characters."""
    text = text.strip()
    if not text:
        raise InvalidInput("text: 请输入主诉 / type the complaint")
    if len(text) > MAX_TRIAGE_TEXT:
        raise InvalidInput(
            f"text: 至多 {MAX_TRIAGE_TEXT} 个字 / up to {MAX_TRIAGE_TEXT} characters"
        )
    if any(not (c.isprintable() or c in "\n\r\t") for c in text):
        raise InvalidInput("text: 含控制字符 / has control characters")
    return text


def _triage_for(state: Any, ops: Ops) -> Any:
    """The hospital's triage (`careops.triage.service.open_triage`), kept on the app's `state`
    and rebuilt from the warehouse every `TRIAGE_CACHE_S` seconds."""
    from careops.triage.service import open_triage

    with _triage_lock:
        cached = getattr(state, "cockpit_triage", None)
        if cached is None or time.monotonic() - cached[0] > TRIAGE_CACHE_S:
            cached = (time.monotonic(), open_triage(None, ops))
            state.cockpit_triage = cached
    return cached[1]


def triage(ops: Ops, state: Any, text: str) -> TriageView:
    """Triage one complaint: the emergency first, then departments and doctors. The text is
    neither stored nor logged; the audit records who asked and what came out, like the API."""
    ops.require("triage.run")
    text = check_triage_text(text)
    answer = _triage_for(state, ops).ask(text, top=TRIAGE_TOP, doctors=TRIAGE_DOCTORS).as_dict()
    ops.audit(
        "triage.ask",
        "triage",
        {
            "questions": 1,
            "via": "cockpit",
            "emergencies": [answer["emergency"]["rule"]] if answer["emergency"] else [],
            "top": [answer["departments"][0]["name"]] if answer["departments"] else [],
        },
    )
    return TriageView(
        emergency=answer["emergency"],
        departments=answer["departments"],
        doctors=answer["doctors"],
        paediatric=answer["paediatric"],
        recognised=answer["recognised"],
        found=answer["found"],
        negated=answer["negated"],
    )
