"""Direct identifiers out of the raw text CareOps keeps: quarantine records and extra columns.

A record rejected by the reader (a truncated CSV line, malformed JSON) is kept as the text it
arrived as, so that a person can repair it; records rejected by validation keep their fields as
JSON. Either may hold the hospital's identifier columns. Before such text is stored:

- the fields of identifier columns — named by the mapping, recognised by header (姓名, 手机号,
  身份证号, 邮箱, name, phone, id_number, email, …) or by content when the file was read — are
  masked as the service shows them (张*, 138****5678, a***@x.cn): in a CSV line by their position
  under the header (a line with extra separators masks every position the field may have moved
  to), in JSON by key (FHIR `name.family` / `given` too), also in JSON that does not parse;
- e-mail addresses anywhere in the text are masked, and `Reject` masks mainland mobile numbers
  and check-digit-valid resident ids (`privacy.identifiers.mask_text`);
- free text of extra columns (a comment, a complaint, properties) gets the same scan before it
  lands in `ingest_extras`.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Collection, Mapping
from typing import Any

from careops.privacy.contacts import masked
from careops.privacy.identifiers import by_header, mask_text

_EMAIL = re.compile(r"(?<![\w.+-])([\w.+-])[\w.+-]*@([\w-]+(?:\.[\w-]+)*\.[A-Za-z]{2,})")
_FHIR_NAME_PARTS = {"family": "name", "given": "given"}  # given names hidden whole
_JSON_STRING = r'"((?:[^"\\]|\\.)*)"'


def mask_emails(text: str) -> str:
    """`text` with every e-mail address masked (a***@example.cn)."""
    return _EMAIL.sub(lambda m: f"{m[1]}***@{m[2]}", text)


def mask_free_text(text: str) -> str:
    """Mobile numbers, resident ids and e-mail addresses in free text masked."""
    return mask_text(mask_emails(text))


def mask_value(value: Any) -> Any:
    """A field value with mobiles, resident ids and e-mails masked: text is scanned; a whole
    number that is a mobile or an id becomes its masked text."""
    if isinstance(value, str):
        return mask_free_text(value)
    if isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        hidden = mask_text(text)
        return hidden if hidden != text else value
    return value


def identifier_fields(
    names: Collection[str], declared: Mapping[str, str], canonical: Collection[str] = ()
) -> dict[str, str]:
    """Which of `names` (a header, JSON keys) hold identifiers → contacts field: those the
    mapping declares, else those whose header names one, unless a canonical column of the
    table has that name (events.name is an event's name)."""
    out = {}
    for name in names:
        field = declared.get(name) or (None if name in canonical else by_header(name))
        if field:
            out[name] = field
    return out


def mask_raw(
    raw: str,
    *,
    header: list[str] | None,
    identifiers: Mapping[str, str],
    canonical: Collection[str] = (),
) -> str:
    """The raw text of a rejected record with identifier fields and e-mails masked."""
    if not raw:
        return raw
    text = raw.lstrip()
    if text.startswith(("{", "[")):
        out = _mask_json(raw, identifiers, canonical)
    elif header:
        out = _mask_csv_line(raw, header, identifiers)
    else:
        out = raw
    return mask_free_text(out)


def _field_of(key: str, identifiers: Mapping[str, str], canonical: Collection[str]) -> str | None:
    if key in identifiers:
        return identifiers[key]
    if key in _FHIR_NAME_PARTS:
        return _FHIR_NAME_PARTS[key]
    return None if key in canonical else by_header(key)


def _mask_json(raw: str, identifiers: Mapping[str, str], canonical: Collection[str]) -> str:
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):
        return _mask_json_text(raw, identifiers, canonical)
    return json.dumps(_walk(data, None, identifiers, canonical), ensure_ascii=False)


def _walk(
    node: Any, field: str | None, identifiers: Mapping[str, str], canonical: Collection[str]
) -> Any:
    """`node` with every string under an identifier key masked (iterative: no depth limit)."""
    root: list[Any] = [node]
    stack: list[tuple[Any, Any, str | None]] = [(root, 0, field)]
    while stack:
        parent, key, inherited = stack.pop()
        value = parent[key]
        if isinstance(value, dict):
            for k in value:
                stack.append((value, k, _field_of(str(k), identifiers, canonical) or inherited))
        elif isinstance(value, list):
            for i in range(len(value)):
                stack.append((value, i, inherited))
        elif inherited and isinstance(value, str | int) and not isinstance(value, bool):
            parent[key] = masked(inherited, str(value))
    return root[0]


def _mask_json_text(raw: str, identifiers: Mapping[str, str], canonical: Collection[str]) -> str:
    """Malformed JSON: mask the string value after each identifier key found in the text."""

    def repl(m: re.Match[str]) -> str:
        field = _field_of(m[1], identifiers, canonical)
        if field is None:
            return m[0]
        return f'"{m[1]}"{m[2]}"{masked(field, m[3])}"'

    return re.sub(rf"{_JSON_STRING}(\s*:\s*){_JSON_STRING}", repl, raw)


def _mask_csv_line(raw: str, header: list[str], identifiers: Mapping[str, str]) -> str:
    positions = {i: identifiers[h] for i, h in enumerate(header) if h in identifiers}
    if not positions:
        return raw
    try:
        fields = next(csv.reader(io.StringIO(raw)), [])
    except csv.Error:
        fields = raw.split(",")
    # extra separators shift a field right by at most that many places: mask them all
    shift = max(0, len(fields) - len(header))
    hidden = {i: f for i, f in positions.items() if i < len(fields)}  # own place first
    for i, field in positions.items():
        for j in range(i, min(i + shift + 1, len(fields))):
            hidden.setdefault(j, field)
    for j, field in hidden.items():
        fields[j] = masked(field, fields[j]) or ""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="").writerow(fields)
    return buffer.getvalue()
