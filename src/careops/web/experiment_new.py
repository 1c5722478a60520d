"""The 新建实验 form: an A/B experiment on a saved segment, checked field by field and stored
through `careops.experiments.service.create` (the function behind `careops experiments
create` and `POST /api/v1/experiments`, which audits it as `experiment.create`).

The form is small on purpose: a key, a name, the saved segment, a control and one treatment
with the treatment's share, a start and an end day (hospital time), the primary and guardrail
metrics from the metric registry. Anything richer goes through the CLI or the API.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

from careops import labels
from careops.errors import AlreadyExists, InvalidInput
from careops.service import Ops

KEY = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
VARIANT = re.compile(r"^[a-z][a-z0-9_]{0,31}$")
MAX_NAME = 100
MAX_METRICS = 5
#: the form's fields, in order (an unknown field is refused)
FIELDS = (
    "csrf",
    "key",
    "name",
    "segment",
    "control",
    "treatment",
    "share",
    "start",
    "end",
    "primary",
    "guardrail",
)


@dataclass(frozen=True)
class MetricChoice:
    name: str
    label: str


@dataclass
class NewExperimentForm:
    """What the form shows: the values given (kept after an error), the choices, the error."""

    values: dict[str, str]
    segments: list[str]
    metrics: list[MetricChoice]
    primary: list[str] = field(default_factory=list)
    guardrail: list[str] = field(default_factory=list)
    error: str | None = None


def metric_choices(lang: str) -> list[MetricChoice]:
    """The metrics an experiment can measure: every per-user metric of the registry (not the
    funnel or cohort analyses), by label."""
    from careops.metrics.registry import all_metrics

    return sorted(
        (
            MetricChoice(m.name, labels.metric_label(m.name, lang))
            for m in all_metrics()
            if m.kind != "analysis"
        ),
        key=lambda c: c.name,
    )


def blank_form(ops: Ops, segment: str | None, today: dt.date, lang: str) -> NewExperimentForm:
    """The empty form, on `segment` when one was chosen (from the segments page)."""
    from careops.segments import service as segments

    names = [s.name for s in segments.list_saved(ops)]
    values = {
        "segment": segment if segment in names else "",
        "control": "control",
        "treatment": "treatment",
        "share": "50",
        "start": today.isoformat(),
        "end": (today + dt.timedelta(days=28)).isoformat(),
    }
    return NewExperimentForm(values, names, metric_choices(lang), primary=["paid_conversion"])


def _split(raw: str) -> list[str]:
    return [x for x in (raw or "").split(",") if x]


def _day(name: str, raw: str, tz: dt.tzinfo) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(raw)
    except ValueError:
        raise InvalidInput(f"{name}: 不是日期 / not a date (YYYY-MM-DD): {raw[:20]!r}") from None
    return dt.datetime.combine(day, dt.time(), tz)


def definition_of(form: dict[str, str], segments: list[str], tz: dt.tzinfo) -> dict:
    """The experiment's definition from the posted form, each field checked with a message
    naming it; the experiments service checks the rest (metrics, key taken, dates)."""
    unknown = sorted(set(form) - set(FIELDS))
    if unknown:
        raise InvalidInput(f"未知字段 / unknown field(s): {', '.join(u[:20] for u in unknown)}")
    key = form.get("key", "").strip()
    if not KEY.match(key):
        raise InvalidInput(
            "key: 1–64 个小写字母、数字、_ 或 -, 以字母或数字开头 / 1–64 lower-case letters, "
            f"digits, _ or -, starting with a letter or digit; got {key[:40]!r}"
        )
    name = form.get("name", "").strip()
    if len(name) > MAX_NAME or any(not c.isprintable() for c in name):
        raise InvalidInput(f"name: 最多 {MAX_NAME} 个可打印字符 / at most {MAX_NAME} characters")
    segment = form.get("segment", "")
    if segment not in segments:
        raise InvalidInput(
            f"segment: 请选择已保存的人群 / choose a saved segment; {segment[:40]!r} is not one"
        )
    control, treatment = form.get("control", "").strip(), form.get("treatment", "").strip()
    for what, value in (("control", control), ("treatment", treatment)):
        if not VARIANT.match(value):
            raise InvalidInput(
                f"{what}: 1–32 个小写字母、数字或 _, 以字母开头 / 1–32 lower-case letters, "
                f"digits or _, starting with a letter; got {value[:40]!r}"
            )
    if control == treatment:
        raise InvalidInput("treatment: 须与对照组不同 / must differ from the control")
    share = form.get("share", "")
    if not share.isdigit() or not 1 <= int(share) <= 99:
        raise InvalidInput(
            f"share: 实验组占比应为 1–99 (%) / the treatment's share, 1–99 (%): {share[:20]!r}"
        )
    start = _day("start", form.get("start", ""), tz)
    end = _day("end", form.get("end", ""), tz)
    if end <= start:
        raise InvalidInput("end: 结束日须晚于开始日 / the end must be after the start")
    primary, guardrail = _split(form.get("primary", "")), _split(form.get("guardrail", ""))
    if not primary:
        raise InvalidInput("primary: 至少选择一个主要指标 / choose at least one primary metric")
    known = {m.name for m in metric_choices("zh")}
    for what, names in (("primary", primary), ("guardrail", guardrail)):
        if len(names) > MAX_METRICS:
            raise InvalidInput(f"{what}: 最多 {MAX_METRICS} 个指标 / at most {MAX_METRICS}")
        bad = [n for n in names if n not in known]
        if bad:
            raise InvalidInput(f"{what}: 未知指标 / unknown metric {bad[0][:40]!r}")
    both = set(primary) & set(guardrail)
    if both:
        raise InvalidInput(
            f"guardrail: {sorted(both)[0]!r} 已是主要指标 / is already a primary metric"
        )
    p = int(share) / 100
    return {
        "key": key,
        "name": name,
        "variants": {control: round(1 - p, 2), treatment: round(p, 2)},
        "control": control,
        "segment": segment,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "primary_metrics": primary,
        "guardrail_metrics": guardrail,
    }


def create(ops: Ops, form: dict[str, str], lang: str) -> tuple[str | None, NewExperimentForm]:
    """Create the experiment the form describes (audited by the service): its key, or None and
    the form again with the error named."""
    from pydantic import ValidationError

    from careops.experiments import service
    from careops.segments import service as segments

    ops.require("experiments.write")
    names = [s.name for s in segments.list_saved(ops)]
    again = NewExperimentForm(
        {k: v for k, v in form.items() if k in FIELDS and k != "csrf"},
        names,
        metric_choices(lang),
        primary=_split(form.get("primary", "")),
        guardrail=_split(form.get("guardrail", "")),
    )
    try:
        definition = definition_of(form, names, ops.settings.tz)
        return service.create(ops, definition).experiment.key, again
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(x) for x in first.get("loc", ())) or "form"
        again.error = f"{where}: {first.get('msg', '')}"
    except (InvalidInput, AlreadyExists) as exc:  # the service's checks; a key taken
        again.error = str(exc)
    return None, again
