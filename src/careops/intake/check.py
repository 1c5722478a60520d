"""Shape and validate one batch of events: the request's own limits first (types, sizes,
nesting, unknown fields), then the file door's rules for the `events` table
(`careops.ingest.validate`, written once). Bad events are answered by index; the rest go on."""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass, field
from itertools import chain, repeat
from typing import Any

import pyarrow as pa

from careops.config import Settings
from careops.ingest.base import RECORD
from careops.ingest.validate import validate
from careops.schema import TABLES

FIELDS = ("event_id", "user_id", "ts", "name", "properties")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SURROGATE = re.compile("[\ud800-\udfff]")  # JSON can carry them; UTF-8 cannot
_CONTROL_OR_SURROGATE = re.compile(_CONTROL.pattern[:-1] + "\ud800-\udfff]")
_FIELD_SET = frozenset(FIELDS)
_TEXT_FIELDS = ("event_id", "user_id", "name", "ts")
#: properties as compact JSON text; one encoder for every event (json.dumps builds one per call)
_ENCODE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


@dataclass(frozen=True)
class Rejected:
    """One event refused: its place in the batch, its id (if it had one), which field, why."""

    index: int
    event_id: str | None
    field: str
    reason: str


@dataclass
class Checked:
    """One request's batch after checking: the events refused (by index), repeats of an event
    already in the group, and for each stored-to-be row its event_id's index here."""

    rejected: list[Rejected] = field(default_factory=list)
    duplicates: int = 0
    index: dict[str, int] = field(default_factory=dict)  # event_id -> index (rows it owns)


@dataclass
class Group:
    """Several requests checked together (validation has a fixed cost per call, so the service
    validates what arrived meanwhile at once): the canonical rows to store, unique by
    event_id, who owns each, and each request's outcome so far."""

    rows: pa.Table
    owner: dict[str, tuple[int, int]]  # event_id -> (request, index)
    checked: list[Checked]


def check_events(
    events: list[Any], settings: Settings, now: dt.datetime | None = None
) -> tuple[pa.Table, Checked]:
    """Check one request's events; the good ones become canonical `events` rows."""
    group = check_group([events], settings, now)
    return group.rows, group.checked[0]


def check_group(
    batches: list[list[Any]], settings: Settings, now: dt.datetime | None = None
) -> Group:
    """Check the events of several requests at once, as one validation. `now` (for "not in
    the future") defaults to the start of the next minute: the validation query is then built
    once a minute, not per batch, and the tolerance is never stricter than the setting."""
    if now is None:
        now = dt.datetime.now(dt.UTC).replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
    limits = settings.intake
    checked = [Checked() for _ in batches]
    shaped: dict[str, list] = {name: [] for name in (RECORD, *FIELDS)}
    places: list[tuple[int, int]] = []
    for g, events in enumerate(batches):
        columns = _clean_columns(events, limits)
        if columns is not None:  # the usual case: every event within the limits
            start = len(places)
            shaped[RECORD].extend(map(str, range(start, start + len(events))))
            places.extend(zip(repeat(g), range(len(events))))
            for name in FIELDS:
                shaped[name].extend(columns[name])
            continue
        for i, event in enumerate(events):
            problem, properties = _shape(event, limits)
            if problem is not None:
                checked[g].rejected.append(
                    Rejected(i, _id_of(event, limits.max_id_chars), *problem)
                )
                continue
            shaped[RECORD].append(str(len(places)))
            places.append((g, i))
            for name in FIELDS[:-1]:
                shaped[name].append(event[name])
            shaped["properties"].append(properties)
    staged = pa.table({k: pa.array(v, pa.string()) for k, v in shaped.items()})
    v = validate(
        staged,
        TABLES["events"],
        source="api:events",
        settings=settings.ingest,
        timezone=settings.timezone,
        now=now,
    )
    ids = shaped["event_id"]
    bad = set()
    for r in v.rejects:
        n = int(r.record)
        bad.add(n)
        g, i = places[n]
        reason = _FIRST_AT.sub(lambda m, g=g: _first_at(places[int(m[1])], g), r.reason)
        checked[g].rejected.append(Rejected(i, ids[n], r.field or "", reason))
    owner: dict[str, tuple[int, int]] = {}
    for n, event_id in enumerate(ids):
        if n in bad:
            continue
        g, i = places[n]
        if event_id in owner:  # an identical repeat (a different one was rejected above)
            checked[g].duplicates += 1
        else:
            owner[event_id] = (g, i)
            checked[g].index[event_id] = i
    for c in checked:
        c.rejected.sort(key=lambda r: r.index)
    return Group(rows=v.good, owner=owner, checked=checked)


_BAD_UNICODE = "无效的 Unicode (孤立代理项) / invalid Unicode: a lone surrogate (\\ud800–\\udfff)"
_FIRST_AT = re.compile(r"\(first at (\d+)\)")


def _first_at(place: tuple[int, int], g: int) -> str:
    """Where the first copy of a repeated event_id is, in the caller's terms."""
    if place[0] == g:
        return f"(first at index {place[1]})"
    return "(first sent in another request stored at the same time)"


def _clean_columns(events: list[Any], limits) -> dict[str, list] | None:
    """The batch as columns (properties as compact JSON text) when every event keeps the
    request's limits, else None: then `_shape` checks each event and names the reason.

    The same checks as `_problem` and `_shape`, made over whole columns in a few passes that
    run in C (types as a set, lengths by `max`, one regex over the joined text, one encoder),
    instead of ~20 Python steps per event: it accepts an event only where they would."""
    if set(map(type, events)) != {dict} or not _FIELD_SET.issuperset(chain(*events)):
        return None
    columns: dict[str, list] = {}
    for name, most in zip(
        _TEXT_FIELDS,
        (limits.max_id_chars, limits.max_id_chars, limits.max_name_chars, 64),
        strict=True,
    ):
        values = list(map(dict.get, events, repeat(name)))
        if set(map(type, values)) != {str} or "" in values or max(map(len, values)) > most:
            return None
        columns[name] = values
    # a space joins them: it is neither a control character nor a surrogate
    if _CONTROL_OR_SURROGATE.search(" ".join(chain.from_iterable(columns.values()))):
        return None
    props = list(map(dict.get, events, repeat("properties")))
    if not {dict, type(None)}.issuperset(map(type, props)):
        return None
    texts: list[str | None] = []
    for p in props:
        if p is None:
            texts.append(None)
            continue
        try:
            text = _ENCODE(p)
        except (ValueError, RecursionError):  # not finite, circular, too deep: say which
            return None
        # nesting is at most the number of brackets; walk it only where that may be too deep
        if text.count("{") + text.count("[") > limits.max_depth and (
            _depth(p, limits.max_depth) > limits.max_depth
        ):
            return None
        texts.append(text)
    given = [t for t in texts if t is not None]
    if given and (
        _SURROGATE.search("".join(given))
        or max(map(len, map(str.encode, given))) > limits.max_properties_bytes
    ):
        return None
    columns["properties"] = texts
    return columns


def _shape(event: Any, limits) -> tuple[tuple[str, str] | None, str | None]:
    """((field, reason), None) when the event is not a well-shaped object within the limits,
    else (None, its properties as compact JSON text or None)."""
    problem = _problem(event, limits)
    if problem is not None or event.get("properties") is None:
        return problem, None
    try:
        text = _ENCODE(event["properties"])
    except ValueError:
        return ("properties", "含非有限数值 / holds a number that is not finite (NaN)"), None
    if _SURROGATE.search(text):
        return ("properties", _BAD_UNICODE), None
    size = len(text.encode("utf-8"))
    if size > limits.max_properties_bytes:
        return (
            "properties",
            f"过大 / too large: {size} bytes, at most {limits.max_properties_bytes}",
        ), None
    return None, text


def _problem(event: Any, limits) -> tuple[str, str] | None:
    if not isinstance(event, dict):
        return "event", "应为 JSON 对象 / must be a JSON object"
    unknown = [k for k in event if k not in FIELDS]
    if unknown:
        shown = _echo(str(unknown[0])[:40])
        return shown, (
            f"未知字段 / unknown field {shown!r}; allowed: {', '.join(FIELDS)} "
            "(put extra data in properties)"
        )
    for name, most in (
        ("event_id", limits.max_id_chars),
        ("user_id", limits.max_id_chars),
        ("name", limits.max_name_chars),
        ("ts", 64),
    ):
        value = event.get(name)
        if value is None or value == "":
            return name, "必填字段为空 / required field is empty"
        if not isinstance(value, str):
            return name, f"应为字符串 / must be a string, not {_json_type(value)}"
        if len(value) > most:
            return name, f"过长 / too long: {len(value)} characters, at most {most}"
        if _CONTROL.search(value):
            return name, "含控制字符 / contains control characters"
        if _SURROGATE.search(value):
            return name, _BAD_UNICODE
    props = event.get("properties")
    if props is None:
        return None
    if not isinstance(props, dict):
        return "properties", f"应为 JSON 对象 / must be a JSON object, not {_json_type(props)}"
    if _depth(props, limits.max_depth) > limits.max_depth:
        return "properties", f"嵌套过深 / nested deeper than {limits.max_depth} levels"
    return None


def _depth(value: Any, limit: int) -> int:
    """Nesting depth of a JSON value (an object of scalars is 1); stops counting past `limit`."""
    deepest = 0
    stack = [(value, 1)]
    while stack:
        v, d = stack.pop()
        if d > deepest:
            deepest = d
            if deepest > limit:
                return deepest
        children = v.values() if isinstance(v, dict) else v
        for child in children:
            if isinstance(child, (dict, list)):
                stack.append((child, d + 1))
    return deepest


def _id_of(event: Any, most: int) -> str | None:
    if isinstance(event, dict) and isinstance(event.get("event_id"), str):
        return _echo(event["event_id"][:most])
    return None


def _echo(text: str) -> str:
    """A value as the answer may repeat it: lone surrogates (not UTF-8) shown as U+FFFD."""
    return _SURROGATE.sub("\ufffd", text)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return "a string" if isinstance(value, str) else "null"
