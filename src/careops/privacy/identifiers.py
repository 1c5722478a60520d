"""Recognise direct identifiers among the columns a file has beyond the canonical ones.

A column is an identifier when the mapping says so (`identifiers: {手机号: phone}` or
`columns: {手机号: contacts.phone}`), when its header names one (姓名, 手机号, 身份证号, name,
mobile, id_card, …), or when most of its values look like one: an 11-digit mainland mobile
number, an 18-character resident id whose ISO 7064 MOD 11-2 check digit is right, an e-mail
address. Names are recognised by header only (a value cannot tell a name from a word).

Free text of canonical columns (a survey comment, a ticket reason) can hold a phone number too;
that is not scanned here.

Synthetic identifiers (the simulator's, `careops.sim.contacts`) are made so that they can never
be a real person's, and are still treated as identifiers (sealed, masked in text and on display;
synthetic ids are also recognised by content, synthetic phones by their column header only):
- a synthetic resident id has the area code 99 (no province, region or county code of GB/T 2260
  starts with 9) AND a deliberately wrong ISO 7064 check digit, so no issued id equals it;
- a synthetic mobile number starts with 12: the 12x block holds public-service short numbers
  (12315, 12345, 12320) and no 11-digit subscriber number is issued in it.
"""

from __future__ import annotations

import re

import pyarrow as pa
import pyarrow.compute as pc

from careops.privacy.contacts import FIELDS

PREFIX = "contacts."
_HEADERS: dict[str, tuple[str, ...]] = {
    "name": (
        "姓名",
        "患者姓名",
        "病人姓名",
        "客户姓名",
        "联系人",
        "名字",
        "真实姓名",
        "name",
        "full_name",
        "fullname",
        "patient_name",
        "real_name",
        "contact_name",
    ),
    "phone": (
        "手机",
        "手机号",
        "手机号码",
        "电话",
        "电话号码",
        "联系电话",
        "联系方式",
        "移动电话",
        "mobile",
        "mobile_phone",
        "phone",
        "phone_number",
        "telephone",
        "tel",
        "cellphone",
        "cell",
    ),
    "email": ("邮箱", "电子邮箱", "电子邮件", "邮件", "email", "e_mail", "mail"),
    "id_number": (
        "身份证",
        "身份证号",
        "身份证号码",
        "证件号",
        "证件号码",
        "居民身份证",
        "id_card",
        "idcard",
        "id_number",
        "id_no",
        "national_id",
        "citizen_id",
        "identity_card",
    ),
    "wechat_openid": ("openid", "wechat_openid", "微信openid", "微信号", "wechat_id"),
}
_BY_HEADER = {h: f for f, names in _HEADERS.items() for h in names}
MOBILE = r"^(?:\+?86[- ]?)?1[3-9]\d{9}$"
SYNTHETIC_MOBILE = r"^12\d{9}$"
RESIDENT_ID = r"^\d{17}[\dXx]$"
SYNTHETIC_AREA = "99"
EMAIL = r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$"
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"  # ISO 7064 MOD 11-2 check character by remainder
_CHECK = CHECK_CHARS
_SAMPLE = 1000
_SHARE = 0.8  # of the non-empty sampled values


def check_digit(first17: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of a resident id."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def resident_id_ok(value: str) -> bool:
    """Whether an 18-character mainland resident id has the right ISO 7064 MOD 11-2 check."""
    if not re.fullmatch(RESIDENT_ID, value):
        return False
    return check_digit(value[:17]) == value[17].upper()


def synthetic_resident_id(value: str) -> bool:
    """Whether `value` is a simulator's resident id: area code 99 and a wrong check digit, so
    it can never be an issued one."""
    return (
        re.fullmatch(RESIDENT_ID, value) is not None
        and value.startswith(SYNTHETIC_AREA)
        and check_digit(value[:17]) != value[17].upper()
    )


def synthetic_phone(value: str) -> bool:
    """Whether `value` is a simulator's mobile number (12 + 9 digits: never a subscriber's)."""
    return re.fullmatch(SYNTHETIC_MOBILE, value) is not None


def resident_id_like(value: str) -> bool:
    """A real-looking (check digit right) or a synthetic resident id: both are identifiers."""
    return resident_id_ok(value) or synthetic_resident_id(value)


def _normal(header: str) -> str:
    return re.sub(r"[\s\-]+", "_", header.strip().lower())


def by_header(header: str) -> str | None:
    """The contacts field a column header names, if any."""
    h = _normal(header)
    if h.startswith(PREFIX) and h[len(PREFIX) :] in FIELDS:
        return h[len(PREFIX) :]
    if h in _BY_HEADER:
        return _BY_HEADER[h]
    for name, field in _BY_HEADER.items():  # 患者手机号, 联系人电话, patient_mobile
        if len(name) >= 2 and not name.isascii() and h.endswith(name):
            return field
    return None


def by_content(values: pa.ChunkedArray | pa.Array) -> str | None:
    """The contacts field most of a column's values look like (phone, id number, e-mail)."""
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    text = text.filter(pc.and_(pc.is_valid(text), pc.not_equal(text, "")))
    if len(text) == 0:
        return None
    sample = text.slice(0, _SAMPLE)
    n = len(sample)
    # synthetic 12x phones are not looked for here: real files have 11-digit codes starting
    # with 12 (order numbers), and the simulator names its columns (contacts.phone)
    for field, pattern in (("phone", MOBILE), ("email", EMAIL)):
        if pc.sum(pc.match_substring_regex(sample, pattern)).as_py() >= _SHARE * n:
            return field
    ids = pc.match_substring_regex(sample, RESIDENT_ID)
    if pc.sum(ids).as_py() >= _SHARE * n:
        valid = sum(resident_id_like(v) for v in sample.filter(ids).to_pylist())
        if valid >= _SHARE * n:
            return "id_number"
    return None


def find_identifiers(
    table: pa.Table, canonical: tuple[str, ...] | list[str], declared: dict[str, str] | None = None
) -> dict[str, str]:
    """Identifier columns of `table` outside the canonical ones: column -> contacts field."""
    out: dict[str, str] = {}
    for column in table.column_names:
        if column in canonical or column.startswith("_"):
            continue
        field = (declared or {}).get(column) or by_header(column)
        kind = table.schema.field(column).type
        if field is None and (
            pa.types.is_string(kind) or pa.types.is_large_string(kind) or pa.types.is_integer(kind)
        ):
            field = by_content(table[column])
        if field is not None:
            out[column] = field
    return out


_MOBILE_IN_TEXT = re.compile(r"(?<!\d)(1[2-9]\d)(\d{4})(\d{4})(?!\d)")
_ID_IN_TEXT = re.compile(r"(?<![\dXx])(\d{4})(\d{13})([\dXx])(?![\dXx])")


def mask_text(text: str) -> str:
    """`text` with mainland mobile numbers (138****5678) and resident ids with a valid check
    digit (1101*************X) masked — for raw records kept in quarantine, which may hold a
    hospital's identifier columns in plain text. Synthetic ones (see above) are masked too."""
    text = _MOBILE_IN_TEXT.sub(lambda m: f"{m[1]}****{m[3]}", text)
    return _ID_IN_TEXT.sub(
        lambda m: f"{m[1]}{'*' * 13}{m[3]}" if resident_id_like(m[0]) else m[0], text
    )
