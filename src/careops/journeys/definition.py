"""Journey definitions: a YAML file read into validated pydantic models.

A journey has a name in Chinese and English, a version, one trigger, an optional audience rule,
a list of steps (the first runs on entry; each step goes to `next`, or to the following step),
exit conditions, a re-entry rule and optional per-journey frequency caps. Step kinds:

- `wait`: `for` a duration (`3d`), `until` a local time of day (`09:00`), or until an `event`
  with a `timeout` (then `on_timeout` names the step to go to);
- `branch`: ranked `branches` (`when` in the segment rule language, first match wins) and
  `otherwise`;
- `split`: A/B `arms` with weights and a `holdout` share that gets nothing;
- actions: `message` (channel, purpose marketing|service|medical, template in zh/en, checked
  by the compliance rules), `coupon`, `points`, `task` (for a health manager or doctor, with a
  due time), `webhook` (to an allow-listed https URL only).

Validation errors name FILE:LINE:COLUMN, the field and the reason in "中文 / English"; every
problem of a file is reported at once. See docs/journeys.md for the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from careops.errors import InvalidInput
from careops.journeys import yamlsafe

Purpose = Literal["marketing", "service", "medical"]
Channel = Literal["auto", "sms", "wechat", "app_push", "email", "phone"]
StepId = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Key = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Text = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Body = Annotated[str, StringConstraints(min_length=1, max_length=2000)]
EXIT = "exit"  # a `next` / `goto` that ends the journey

_DURATION = re.compile(r"^\s*(\d{1,6})\s*(m|min|h|d|w)\s*$")
_UNITS = {"m": 60, "min": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
MAX_DURATION_S = 400 * 86400
_TIME = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


def parse_duration(value: str | int) -> int:
    """Seconds of `30m`, `1h`, `3d`, `2w` (an int is seconds); at most 400 days."""
    if isinstance(value, bool):
        raise ValueError("时长应为文本 / a duration is text like 3d, 12h or 30m")
    if isinstance(value, int):
        seconds = value
    else:
        m = _DURATION.match(str(value))
        if not m:
            raise ValueError(
                f"无法识别的时长 / cannot read duration {str(value)[:40]!r}: use 30m, 12h, 3d or 2w"
            )
        seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if not 0 < seconds <= MAX_DURATION_S:
        raise ValueError("时长应在 1 秒到 400 天之间 / a duration is between 1 second and 400 days")
    return seconds


Duration = Annotated[str | int, Field(description="30m, 12h, 3d or 2w")]


def _clean(text: str) -> str:
    if _CONTROL.search(text):
        raise ValueError("含有控制字符 / contains control characters")
    return text


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Name(_Model):
    zh: Text
    en: Text

    _c = field_validator("zh", "en")(classmethod(lambda cls, v: _clean(v)))


class Rule(_Model):
    """A condition in the segment rule language (text or its YAML tree), checked against the
    tag registry when the definition is read."""

    rule: str | dict[str, Any]
    tags: tuple[str, ...] = ()

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        if isinstance(data, str | dict) and not (isinstance(data, dict) and "rule" in data):
            data = {"rule": data}
        return data

    @model_validator(mode="after")
    def _check(self) -> Rule:
        from careops.segments.compile import check
        from careops.segments.rules import parse_rule, to_data

        if isinstance(self.rule, str) and len(self.rule) > 4000:
            raise ValueError("规则过长 / rule longer than 4,000 characters")
        try:
            node, names = check(parse_rule(self.rule))
        except InvalidInput as exc:
            raise ValueError(f"规则无效 / invalid rule: {exc}") from None
        object.__setattr__(self, "rule", to_data(node))
        object.__setattr__(self, "tags", tuple(names))
        return self


# ------------------------------------------------------------------ triggers


class EventTrigger(_Model):
    kind: Literal["event"]
    event: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
    where: Rule | None = None


class SegmentTrigger(_Model):
    kind: Literal["segment_entry", "segment_exit"]
    segment: Key | None = Field(None, description="a saved segment's name")
    rule: Rule | None = None

    @model_validator(mode="after")
    def _one(self) -> SegmentTrigger:
        if (self.segment is None) == (self.rule is None):
            raise ValueError("需要 segment 或 rule 之一 / give either segment or rule")
        return self


class LayerTrigger(_Model):
    kind: Literal["layer_entry", "layer_exit"]
    tag: Key = Field(description="a layer tag, e.g. lifecycle")
    value: Annotated[str, StringConstraints(min_length=1, max_length=64)]

    @model_validator(mode="after")
    def _known(self) -> LayerTrigger:
        Rule(rule={"tag": self.tag, "op": "==", "value": self.value})
        return self


DATE_ATTRIBUTES = {
    "package_end": "enrollments.end_at",
    "package_start": "enrollments.start_at",
    "birthday": "patients.birth_date",
    "registered": "patients.registered_at",
}


class DateTrigger(_Model):
    kind: Literal["date"]
    attribute: Literal["package_end", "package_start", "birthday", "registered"]
    offset_days: int = Field(0, ge=-400, le=400)
    at: str = Field("09:00", description="local time of day HH:MM")

    _t = field_validator("at")(classmethod(lambda cls, v: _time(v)))


class ScheduleTrigger(_Model):
    kind: Literal["schedule"]
    every: Literal["day", "week", "month"]
    at: str = "09:00"
    weekday: int | None = Field(None, ge=1, le=7, description="1 = Monday (every: week)")
    day: int | None = Field(None, ge=1, le=28, description="day of month (every: month)")
    audience: Rule | None = None

    _t = field_validator("at")(classmethod(lambda cls, v: _time(v)))

    @model_validator(mode="after")
    def _fits(self) -> ScheduleTrigger:
        if self.every == "week" and self.weekday is None:
            raise ValueError("每周计划需要 weekday / a weekly schedule needs weekday (1–7)")
        if self.every == "month" and self.day is None:
            raise ValueError("每月计划需要 day / a monthly schedule needs day (1–28)")
        return self


Trigger = Annotated[
    EventTrigger | SegmentTrigger | LayerTrigger | DateTrigger | ScheduleTrigger,
    Field(discriminator="kind"),
]


def _time(v: str) -> str:
    if not isinstance(v, str) or not _TIME.match(v):
        raise ValueError(f"时间格式应为 HH:MM / a time of day is HH:MM (00:00–23:59), not {v!r}")
    return v


# ------------------------------------------------------------------ steps


class _Step(_Model):
    id: StepId
    next: StepId | None = Field(None, description="the step after this one; default the next")


class WaitStep(_Step):
    type: Literal["wait"]
    for_: Duration | None = Field(None, alias="for")
    until: str | None = Field(None, description="a local time of day HH:MM")
    event: Key | None = None
    timeout: Duration | None = None
    on_timeout: StepId | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _one(self) -> WaitStep:
        given = [n for n in ("for_", "until", "event") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError(
                "wait 需要 for、until、event 之一 / a wait needs exactly one of for, until, event"
            )
        if self.for_ is not None:
            parse_duration(self.for_)
        if self.until is not None:
            _time(self.until)
        if self.event is not None and self.timeout is None:
            raise ValueError("等待事件需要 timeout / waiting for an event needs a timeout")
        if self.timeout is not None:
            if self.event is None:
                raise ValueError("timeout 只用于等待事件 / timeout belongs to an event wait")
            parse_duration(self.timeout)
        if self.on_timeout is not None and self.event is None:
            raise ValueError("on_timeout 只用于等待事件 / on_timeout belongs to an event wait")
        return self

    @property
    def seconds(self) -> int | None:
        return parse_duration(self.for_) if self.for_ is not None else None


class Branch(_Model):
    when: Rule
    goto: StepId


class BranchStep(_Step):
    type: Literal["branch"]
    branches: list[Branch] = Field(min_length=1, max_length=50)
    otherwise: StepId


class Arm(_Model):
    name: Key
    weight: float = Field(gt=0, le=1)
    goto: StepId


class SplitStep(_Step):
    type: Literal["split"]
    arms: list[Arm] = Field(min_length=1, max_length=10)
    holdout: float = Field(0.0, ge=0, lt=1, description="share held out: no actions")

    @model_validator(mode="after")
    def _weights(self) -> SplitStep:
        total = sum(a.weight for a in self.arms) + self.holdout
        if abs(total - 1.0) > 1e-6:
            raise ValueError(
                f"各组权重加 holdout 应为 1 / arm weights plus holdout must sum to 1, got {total:g}"
            )
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError("组名重复 / arm names must differ")
        return self


class Template(_Model):
    title: Annotated[str, StringConstraints(max_length=100)] | None = None
    zh: Body
    en: Body | None = None

    _c = field_validator("title", "zh", "en")(
        classmethod(lambda cls, v: None if v is None else _clean(v))
    )


class MessageStep(_Step):
    type: Literal["message"]
    channel: Channel = "auto"
    purpose: Purpose
    template: Template
    medical_safety: bool = Field(False, description="exempt from quiet hours (medical only)")

    @model_validator(mode="after")
    def _safety(self) -> MessageStep:
        if self.medical_safety and self.purpose != "medical":
            raise ValueError(
                "只有 medical 消息可标记为医疗安全 / only medical messages are medical_safety"
            )
        return self


class CouponStep(_Step):
    type: Literal["coupon"]
    amount_cny: float = Field(gt=0, le=10_000)
    valid_days: int = Field(7, ge=1, le=366)
    sku: Annotated[str, StringConstraints(max_length=64)] | None = None


class PointsStep(_Step):
    type: Literal["points"]
    points: int = Field(gt=0, le=100_000)
    reason: Text | None = None


class TaskStep(_Step):
    type: Literal["task"]
    assignee: Literal["health_manager", "doctor"] = "health_manager"
    title: Text
    due: Duration = Field(description="due this long after the step runs")
    purpose: Purpose = "service"
    night: bool = Field(False, description="due at night too (else within working hours)")

    _d = field_validator("due")(classmethod(lambda cls, v: (parse_duration(v), v)[1]))
    _c = field_validator("title")(classmethod(lambda cls, v: _clean(v)))


class WebhookStep(_Step):
    type: Literal["webhook"]
    url: Annotated[str, StringConstraints(max_length=2000)]
    method: Literal["POST", "PUT"] = "POST"


Step = Annotated[
    WaitStep
    | BranchStep
    | SplitStep
    | MessageStep
    | CouponStep
    | PointsStep
    | TaskStep
    | WebhookStep,
    Field(discriminator="type"),
]
ACTIONS = ("message", "coupon", "points", "task", "webhook")


class ExitCondition(_Model):
    kind: Literal["converted", "opted_out", "medical_alert", "rule"]
    event: Key | None = Field(None, description="converted: the event that counts")
    rule: Rule | None = None

    @model_validator(mode="after")
    def _fits(self) -> ExitCondition:
        if self.kind == "converted" and self.event is None:
            raise ValueError("converted 需要 event / converted needs event")
        if self.kind == "rule" and self.rule is None:
            raise ValueError("rule 退出条件需要 rule / a rule exit needs rule")
        return self


class Reentry(_Model):
    policy: Literal["never", "after_exit", "cooldown"] = "never"
    cooldown: Duration | None = None
    max_entries: int = Field(1, ge=1, le=1000)

    @model_validator(mode="after")
    def _fits(self) -> Reentry:
        if (self.policy == "cooldown") != (self.cooldown is not None):
            raise ValueError(
                "cooldown 仅且必须用于 policy: cooldown / cooldown goes with policy: cooldown"
            )
        if self.cooldown is not None:
            parse_duration(self.cooldown)
        return self


class Caps(_Model):
    per_day: int | None = Field(None, ge=1, le=100)
    per_7_days: int | None = Field(None, ge=1, le=700)


class Journey(_Model):
    """One journey definition (a YAML file)."""

    key: Key
    name: Name
    version: int = Field(ge=1, le=1_000_000)
    description: Annotated[str, StringConstraints(max_length=2000)] | None = None
    trigger: Trigger
    audience: Rule | None = None
    steps: list[Step] = Field(min_length=1, max_length=200)
    exit: list[ExitCondition] = Field(default_factory=list, max_length=20)
    reentry: Reentry = Reentry()
    caps: Caps = Caps()

    @model_validator(mode="after")
    def _graph(self) -> Journey:
        ids = [s.id for s in self.steps]
        seen: set[str] = set()
        for i in ids:
            if i in seen:
                raise ValueError(f"步骤 id 重复 / duplicate step id {i!r}")
            seen.add(i)
        for step in self.steps:
            for target in targets(step):
                if target != EXIT and target not in seen:
                    raise ValueError(
                        f"步骤 {step.id!r} 指向不存在的步骤 / step {step.id!r} goes to unknown "
                        f"step {target!r}"
                    )
        cycle = _instant_cycle(self)
        if cycle:
            raise ValueError(
                "存在不含等待的循环 / a loop without a wait step would run forever: "
                + " → ".join(cycle)
            )
        return self

    def step(self, step_id: str) -> Any:
        return next(s for s in self.steps if s.id == step_id)

    def following(self, step_id: str) -> str:
        """Where a step without an explicit `next` goes: the step after it, else exit."""
        i = [s.id for s in self.steps].index(step_id)
        s = self.steps[i]
        if s.next is not None:
            return s.next
        return self.steps[i + 1].id if i + 1 < len(self.steps) else EXIT

    def messages(self) -> list[MessageStep]:
        return [s for s in self.steps if isinstance(s, MessageStep)]


def targets(step: Any) -> list[str]:
    """Steps a step may go to explicitly."""
    out = [step.next] if step.next else []
    if isinstance(step, BranchStep):
        out += [b.goto for b in step.branches] + [step.otherwise]
    elif isinstance(step, SplitStep):
        out += [a.goto for a in step.arms]
    elif isinstance(step, WaitStep) and step.on_timeout:
        out.append(step.on_timeout)
    return out


def _instant_cycle(j: Journey) -> list[str]:
    """A cycle of steps none of which waits (depth-first over the step graph), or []."""
    ids = [s.id for s in j.steps]
    succ: dict[str, list[str]] = {}
    for i, s in enumerate(j.steps):
        nxt = targets(s)
        if s.next is None and not isinstance(s, BranchStep | SplitStep):
            nxt.append(ids[i + 1] if i + 1 < len(ids) else EXIT)
        succ[s.id] = [t for t in nxt if t != EXIT and not isinstance(j.step(t), WaitStep)]
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str]:
        state[n] = 1
        stack.append(n)
        for m in succ[n]:
            if state.get(m) == 1:
                return [*stack[stack.index(m) :], m]
            if m not in state:
                found = visit(m)
                if found:
                    return found
        stack.pop()
        state[n] = 2
        return []

    for n in ids:
        if n not in state and not isinstance(j.step(n), WaitStep):
            found = visit(n)
            if found:
                return found
    return []


# ------------------------------------------------------------------ loading


@dataclass(frozen=True)
class Problem:
    """One thing wrong (or worth a warning) in a definition file."""

    source: str
    line: int
    column: int
    field: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}:{self.column}"
        return (
            f"{where}: {self.field}: {self.message}" if self.field else f"{where}: {self.message}"
        )


@dataclass(frozen=True)
class Loaded:
    """A valid definition, where it came from, and the compliance warnings of its templates."""

    journey: Journey
    source: str
    warnings: list[Problem] = field(default_factory=list)


class DefinitionError(InvalidInput):
    """A journey file is not a valid definition; `problems` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        head = f"旅程定义无效 / invalid journey definition ({len(problems)} problem(s))"
        super().__init__("\n".join([head, *(str(p) for p in problems)]))


_ZH = {
    "missing": "缺少字段 / field required",
    "extra_forbidden": "未知字段 / unknown field",
    "literal_error": "取值不允许 / value not allowed",
    "union_tag_invalid": "类型不允许 / kind not allowed",
    "union_tag_not_found": "缺少类型字段 / kind field missing",
    "string_pattern_mismatch": "格式不对 / wrong format",
    "string_too_long": "过长 / too long",
    "string_too_short": "过短 / too short",
    "too_long": "条目过多 / too many items",
    "too_short": "条目过少 / too few items",
    "int_parsing": "应为整数 / not an integer",
    "int_type": "应为整数 / not an integer",
    "float_parsing": "应为数字 / not a number",
    "float_type": "应为数字 / not a number",
    "bool_type": "应为 true/false / not a boolean",
    "string_type": "应为文本 / not text",
    "dict_type": "应为映射 / not a mapping",
    "list_type": "应为列表 / not a list",
    "model_type": "应为映射 / not a mapping",
    "greater_than": "过小 / too small",
    "greater_than_equal": "过小 / too small",
    "less_than": "过大 / too large",
    "less_than_equal": "过大 / too large",
}


def _error_text(err: dict) -> str:
    if err["type"] == "value_error":
        msg = str(err.get("ctx", {}).get("error", err["msg"]))
        return msg
    zh = _ZH.get(err["type"])
    msg = err["msg"]
    return f"{zh.split(' / ')[0]} / {msg}" if zh else f"无效 / {msg}"


def _data_path(data: Any, loc: tuple) -> tuple:
    """The part of a pydantic error location that walks the data (drops union tags)."""
    path: list = []
    node = data
    for part in loc:
        if isinstance(node, dict) and part in node:
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and part == "for_" and "for" in node:
            path.append("for")
            node = node["for"]
        elif isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif isinstance(node, dict) and isinstance(part, str) and part in _FIELDS:
            path.append(part)  # a field that is missing: name it, place it at its parent
            break
    return tuple(path)


_FIELDS = {
    n
    for m in (
        Journey,
        Name,
        EventTrigger,
        SegmentTrigger,
        LayerTrigger,
        DateTrigger,
        ScheduleTrigger,
        WaitStep,
        BranchStep,
        Branch,
        SplitStep,
        Arm,
        Template,
        MessageStep,
        CouponStep,
        PointsStep,
        TaskStep,
        WebhookStep,
        ExitCondition,
        Reentry,
        Caps,
    )
    for n in m.model_fields
} | {"for", "kind", "type"}


def _dotted(path: tuple) -> str:
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def parse(text: str | bytes, source: str = "<text>", *, settings: Any = None) -> Loaded:
    """Read and validate one definition; `DefinitionError` lists every problem found."""
    from careops.config import get_settings

    settings = settings or get_settings()
    try:
        doc = yamlsafe.load(text)
    except yamlsafe.YamlProblem as exc:
        raise DefinitionError([Problem(source, exc.line, exc.column, "", exc.message)]) from None
    if not isinstance(doc.data, dict):
        line, col = doc.mark(())
        raise DefinitionError(
            [Problem(source, line, col, "", "文件应为一个映射 / the file must be a YAML mapping")]
        )
    try:
        journey = Journey.model_validate(doc.data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path = _data_path(doc.data, err["loc"])
            line, col = doc.mark(path)
            problems.append(Problem(source, line, col, _dotted(path), _error_text(err)))
        raise DefinitionError(_dedupe(problems)) from None
    errors, warnings = _check_actions(journey, doc, source, settings)
    if errors:
        raise DefinitionError(errors)
    return Loaded(journey, source, warnings)


def _dedupe(problems: list[Problem]) -> list[Problem]:
    seen, out = set(), []
    for p in problems:
        if (p.line, p.column, p.field, p.message) not in seen:
            seen.add((p.line, p.column, p.field, p.message))
            out.append(p)
    return out


def _check_actions(
    journey: Journey, doc: yamlsafe.Located, source: str, settings: Any
) -> tuple[list[Problem], list[Problem]]:
    """Compliance of every message template and the webhook allow-list."""
    from careops.journeys import compliance
    from careops.journeys.webhooks import webhook_problem

    errors: list[Problem] = []
    warnings: list[Problem] = []
    rules = settings.journeys.compliance_rules
    for i, step in enumerate(journey.steps):
        if isinstance(step, MessageStep):
            title = f"{step.template.title}\n" if step.template.title else ""
            for lang in ("zh", "en"):
                body = getattr(step.template, lang)
                if not body:
                    continue
                text = title + body if lang == "zh" else body  # the title is Chinese
                path = ("steps", i, "template", lang)
                for f in compliance.check(text, step.purpose, rules):
                    at_body = f.start - (len(title) if lang == "zh" else 0)
                    line, col = (
                        doc.text_mark(path, at_body) if f.words and at_body >= 0 else doc.mark(path)
                    )
                    p = Problem(
                        source,
                        line,
                        col,
                        _dotted(path),
                        f.message(),
                        "error" if f.severity == "block" else "warning",
                    )
                    (errors if f.severity == "block" else warnings).append(p)
        elif isinstance(step, WebhookStep):
            reason = webhook_problem(step.url, settings.journeys.webhook_allow)  # no SSRF
            if reason:
                path = ("steps", i, "url")
                line, col = doc.mark(path)
                errors.append(Problem(source, line, col, _dotted(path), reason))
    return errors, _dedupe(warnings)


def load_file(path: str | Path, *, settings: Any = None) -> Loaded:
    """Read and validate one definition file (refused unread when larger than 1 MB)."""
    p = Path(path)
    try:
        if p.stat().st_size > yamlsafe.MAX_BYTES:
            raise DefinitionError(
                [
                    Problem(
                        str(p),
                        0,
                        0,
                        "",
                        f"文件过大 / file larger than {yamlsafe.MAX_BYTES:,} bytes",
                    )
                ]
            )
        data = p.read_bytes()
    except FileNotFoundError:
        from careops.errors import NotFound

        raise NotFound(f"文件不存在 / no such file: {p}") from None
    except IsADirectoryError:
        raise InvalidInput(f"这是一个目录 / {p} is a directory, not a file") from None
    return parse(data, str(p), settings=settings)
