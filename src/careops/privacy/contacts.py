"""The protected contacts store: direct identifiers encrypted at rest, masked on display.

Values (a name, a mobile number, a resident id) are sealed with AES-GCM under the key of the
setting `privacy.contacts_key` (base64 of 32 random bytes; env `CAREOPS_PRIVACY__CONTACTS_KEY`).
Each value gets a fresh random 96-bit nonce and is bound to its field by the associated data, so a
phone ciphertext cannot be passed off as an id number. Stored text is base64(nonce + ciphertext).
Without a key, identifier columns are not kept at all: never in plain text.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from careops.errors import ConfigError, InvalidInput

if TYPE_CHECKING:
    from careops.config import Settings

FIELDS = ("name", "phone", "email", "wechat_openid", "id_number")
NONCE_BYTES = 12
KEY_HINT = (
    "set privacy.contacts_key to base64 of 32 random bytes, e.g. "
    'CAREOPS_PRIVACY__CONTACTS_KEY=$(python -c "import os,base64;'
    'print(base64.b64encode(os.urandom(32)).decode())")'
)
# keys seen in examples and documentation: never accepted
_KNOWN_DEFAULTS = {bytes(32), b"0123456789abcdef0123456789abcdef", b"changeme" * 4}


class ContactsKey:
    """An AES-256-GCM key for the contacts table, checked once."""

    def __init__(self, encoded: str) -> None:
        try:
            raw = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise ConfigError(
                "privacy.contacts_key 不是 base64 / is not base64; " + KEY_HINT
            ) from None
        if len(raw) != 32:
            raise ConfigError(
                f"privacy.contacts_key 须为 32 字节 / must decode to 32 bytes "
                f"(got {len(raw)}); " + KEY_HINT
            )
        if raw in _KNOWN_DEFAULTS or len(set(raw)) < 8:
            raise ConfigError(
                "privacy.contacts_key 是默认或弱密钥, 拒绝使用 / is a default or "
                "weak key, refused; " + KEY_HINT
            )
        self._aead = AESGCM(raw)
        self.key_id = hashlib.sha256(b"careops-contacts" + raw).hexdigest()[:12]

    def __repr__(self) -> str:
        return f"ContactsKey(key_id={self.key_id})"

    def seal(self, field: str, value: str) -> str:
        """`value` encrypted for `field`: base64(nonce + ciphertext + tag)."""
        nonce = os.urandom(NONCE_BYTES)
        ct = self._aead.encrypt(nonce, value.encode("utf-8"), _aad(field))
        return base64.b64encode(nonce + ct).decode("ascii")

    def open(self, field: str, token: str) -> str:
        """The plain value of a sealed `token` of `field`; a wrong key or a tampered or
        swapped value is refused."""
        try:
            data = base64.b64decode(token, validate=True)
            plain = self._aead.decrypt(data[:NONCE_BYTES], data[NONCE_BYTES:], _aad(field))
        except (binascii.Error, ValueError, InvalidTag):
            raise InvalidInput(
                f"联系方式无法解密 / cannot decrypt a contacts.{field} value: "
                "wrong privacy.contacts_key, or the value was altered"
            ) from None
        return plain.decode("utf-8")


def _aad(field: str) -> bytes:
    if field not in FIELDS:
        raise ValueError(f"unknown contacts field {field!r}")
    return f"careops.contacts.{field}".encode()


def contacts_key(secret: str | None) -> ContactsKey | None:
    """The configured key, None when none is set (identifiers are then dropped)."""
    if secret is None or not secret.strip():
        return None
    return ContactsKey(secret)


def configured_key(settings: Settings) -> ContactsKey | None:
    """The key of the setting `privacy.contacts_key`, None when it is not set."""
    secret = settings.privacy.contacts_key
    return contacts_key(secret.get_secret_value() if secret else None)


def masked(field: str, value: str | None) -> str | None:
    """A direct identifier as it may be shown: 138****5678, 张*, 1101**********123X, a***@x.cn."""
    if value is None:
        return None
    v = value.strip()
    if not v:
        return v
    if field == "phone":
        digits = v[-11:] if len(v) >= 11 else v
        return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "*" * len(digits)
    if field == "name":
        return v[0] + "*" * max(1, len(v) - 1)
    if field == "id_number":
        return v[:4] + "*" * (len(v) - 8) + v[-4:] if len(v) > 8 else "*" * len(v)
    if field == "email":
        user, _, domain = v.partition("@")
        return (user[:1] + "***@" + domain) if domain else "***"
    return v[:2] + "*" * max(1, len(v) - 4) + v[-2:] if len(v) > 4 else "*" * len(v)


@dataclass(frozen=True)
class Protected:
    """Identifier columns of one table part: sealed rows for `contacts`, or why they were not
    kept."""

    rows: pa.Table | None  # record_id, user_id, one sealed column per field, key_id
    columns: dict[str, str]  # file column -> contacts field
    warning: str | None = None


def protect(plain: pa.Table | None, columns: dict[str, str], key: ContactsKey | None) -> Protected:
    """Seal the identifier columns of `plain` (record_id, user_id, then the file's identifier
    columns) for the contacts table; without a key drop them and say how to keep them."""
    if plain is None or not columns:
        return Protected(None, columns)
    names = ", ".join(columns)
    if key is None:
        return Protected(
            None,
            columns,
            warning=(
                f"直接标识列未保存 / identifier column(s) {names} were dropped, not stored: no "
                f"contacts key is configured; {KEY_HINT}"
            ),
        )
    out: dict[str, list[str | None]] = {f: [None] * len(plain) for f in FIELDS}
    for column, field in columns.items():
        values = plain[column].to_pylist()
        target = out[field]
        for i, v in enumerate(values):
            text = None if v is None else str(v).strip()
            if text and target[i] is None:
                target[i] = key.seal(field, text)
    table = pa.table(
        {
            "record_id": plain["record_id"].cast(pa.string()),
            "user_id": plain["user_id"].cast(pa.string()),
            **{f: pa.array(v, pa.string()) for f, v in out.items()},
            "key_id": pa.array([key.key_id] * len(plain), pa.string()),
        }
    )
    return Protected(
        table,
        columns,
        warning=(
            f"直接标识列已加密存入 contacts / identifier column(s) {names} were encrypted into "
            "the contacts table, not kept in ingest_extras"
        ),
    )
