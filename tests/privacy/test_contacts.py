"""The contacts store's crypto: round trip, wrong key refused, fresh nonces, masking, and the
detection of identifier columns by header and content."""

from __future__ import annotations

import base64
import os

import pyarrow as pa
import pytest

from careops.errors import ConfigError, InvalidInput
from careops.privacy.contacts import NONCE_BYTES, ContactsKey, contacts_key, masked, protect
from careops.privacy.identifiers import by_content, by_header, find_identifiers, resident_id_ok


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def test_round_trip_and_wrong_key():
    key = ContactsKey(new_key())
    token = key.seal("phone", "13812345678")
    assert "13812345678" not in token
    assert key.open("phone", token) == "13812345678"
    with pytest.raises(InvalidInput, match=r"wrong privacy\.contacts_key"):
        ContactsKey(new_key()).open("phone", token)
    with pytest.raises(InvalidInput):  # a phone ciphertext is no id number
        key.open("id_number", token)
    tampered = base64.b64decode(token)
    tampered = base64.b64encode(tampered[:-1] + bytes([tampered[-1] ^ 1])).decode()
    with pytest.raises(InvalidInput):
        key.open("phone", tampered)


def test_nonce_never_reused():
    key = ContactsKey(new_key())
    tokens = [key.seal("name", "张三") for _ in range(2000)]
    nonces = {base64.b64decode(t)[:NONCE_BYTES] for t in tokens}
    assert len(nonces) == len(tokens)
    assert len(set(tokens)) == len(tokens)  # same value, different ciphertext every time


@pytest.mark.parametrize(
    "secret",
    [
        base64.b64encode(bytes(32)).decode(),
        base64.b64encode(b"changeme" * 4).decode(),
        base64.b64encode(b"a" * 32).decode(),
        base64.b64encode(b"sixteen byte key").decode(),
        "not base64!",
    ],
)
def test_default_weak_or_malformed_keys_are_refused(secret):
    with pytest.raises(ConfigError, match="contacts_key"):
        ContactsKey(secret)


def test_no_key_drops_the_identifiers_and_says_how_to_keep_them():
    assert contacts_key(None) is None and contacts_key("  ") is None
    plain = pa.table({"手机号": ["13812345678"], "record_id": ["u1"], "user_id": ["u1"]})
    out = protect(plain, {"手机号": "phone"}, None)
    assert out.rows is None
    assert "dropped" in out.warning and "CAREOPS_PRIVACY__CONTACTS_KEY" in out.warning


def test_protect_seals_each_field():
    key = ContactsKey(new_key())
    plain = pa.table(
        {
            "姓名": ["张三", None],
            "tel": ["13812345678", "13987654321"],
            "record_id": ["u1", "u2"],
            "user_id": ["u1", "u2"],
        }
    )
    rows = protect(plain, {"姓名": "name", "tel": "phone"}, key).rows.to_pylist()
    assert key.open("name", rows[0]["name"]) == "张三" and rows[1]["name"] is None
    assert key.open("phone", rows[1]["phone"]) == "13987654321"
    assert all("1381234" not in str(v) for r in rows for v in r.values())
    assert rows[0]["key_id"] == key.key_id


def test_masked():
    assert masked("phone", "13812345678") == "138****5678"
    assert masked("name", "张三") == "张*"
    assert masked("name", "欧阳娜娜") == "欧***"
    assert masked("id_number", "11010519491231002X") == "1101**********002X"
    assert masked("email", "alice@example.cn") == "a***@example.cn"


def test_resident_id_check_digit():
    assert resident_id_ok("11010519491231002X")
    assert resident_id_ok("440524188001010014")
    assert not resident_id_ok("110105194912310021")  # wrong check digit
    assert not resident_id_ok("1101051949123100")


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("姓名", "name"),
        ("患者姓名", "name"),
        ("手机号", "phone"),
        ("联系电话", "phone"),
        ("Mobile", "phone"),
        ("身份证号", "id_number"),
        ("ID-Card", "id_number"),
        ("E-mail", "email"),
        ("contacts.phone", "phone"),
        ("渠道", None),
        ("电话回访结果", None),
    ],
)
def test_by_header(header, field):
    assert by_header(header) == field


def test_by_content():
    assert by_content(pa.array(["13812345678", "+86 13987654321", ""])) == "phone"
    assert by_content(pa.array(["11010519491231002X", "440524188001010014"])) == "id_number"
    assert by_content(pa.array(["110105194912310021", "440524188001010015"])) is None
    assert by_content(pa.array(["a@b.com", "x.y@z.cn"])) == "email"
    assert by_content(pa.array(["12345678901", "小程序"])) is None
    t = pa.table({"user_id": ["u1"], "备用": ["13812345678"], "渠道": ["app"]})
    assert find_identifiers(t, ["user_id"]) == {"备用": "phone"}


def test_synthetic_identifiers_are_recognised_and_still_masked():
    from careops.privacy.identifiers import (
        CHECK_CHARS,
        check_digit,
        mask_text,
        synthetic_phone,
        synthetic_resident_id,
    )

    first17 = "99123419850615001"
    right = check_digit(first17)
    wrong = CHECK_CHARS[(CHECK_CHARS.index(right) + 3) % 11]
    fake = first17 + wrong
    assert synthetic_resident_id(fake) and not resident_id_ok(fake)
    assert not synthetic_resident_id(first17 + right)  # right check digit: not ours
    assert not synthetic_resident_id("11010519491231002X")  # a real-looking id is no fake
    other = "11010519491231002" + ("1" if check_digit("11010519491231002") != "1" else "2")
    assert mask_text(f"证件 {fake} 号") == f"证件 9912{'*' * 13}{wrong} 号"
    assert mask_text(f"单号 {other}") == f"单号 {other}"  # a wrong check digit elsewhere: no id
    assert by_content(
        pa.array([fake, first17 + CHECK_CHARS[(CHECK_CHARS.index(right) + 1) % 11]])
    ) == ("id_number")
    assert synthetic_phone("12012345678") and not synthetic_phone("13812345678")
    assert mask_text("tel 12012345678") == "tel 120****5678"
    assert by_content(pa.array(["12012345678", "12912345678"])) is None  # header only
