"""Identifiers out of the raw text CareOps keeps (quarantine, ingest_extras): names and e-mails
in a line the reader could not split were kept in plain text (these tests failed before)."""

from __future__ import annotations

import json

from careops.ingest.raw_text import mask_emails, mask_raw, mask_value
from tests.ingest.conftest import write
from tests.ingest.test_hostile import rows

IDS = {"姓名": "name", "手机号": "phone", "邮箱": "email"}


def test_a_csv_line_masks_the_identifier_columns_by_position():
    header = ["user_id", "姓名", "手机号", "邮箱", "note"]
    got = mask_raw(
        "u1,张三,13812345678,zs@example.cn,ok", header=header, identifiers=IDS, canonical=()
    )
    assert got == "u1,张*,138****5678,z***@example.cn,ok"


def test_a_line_with_extra_separators_masks_every_place_a_field_may_have_moved_to():
    header = ["user_id", "姓名", "note"]
    got = mask_raw("u1,张,三丰,free text", header=header, identifiers=IDS, canonical=())
    assert got == "u1,张*,三*,free text"  # masked as the service shows a name


def test_json_by_key_also_when_it_does_not_parse_and_fhir_names():
    ok = mask_raw(
        '{"user_id": "u1", "name": "李四", "x": [1, 2]}',
        header=None,
        identifiers={},
        canonical=(),
    )
    assert json.loads(ok) == {"user_id": "u1", "name": "李*", "x": [1, 2]}
    broken = mask_raw('{"姓名": "王五", "email": "w@x.cn", "a": ', header=None, identifiers={})
    assert "王五" not in broken and "w@x.cn" not in broken and '"姓名": "王*"' in broken
    fhir = mask_raw(
        json.dumps({"resourceType": "Patient", "name": [{"family": "赵", "given": ["六"]}]}),
        header=None,
        identifiers={},
    )
    assert json.loads(fhir)["name"] == [{"family": "赵*", "given": ["*"]}]
    # a canonical column called like an identifier keeps its value (events.name)
    event = mask_raw('{"name": "search"}', header=None, identifiers={}, canonical={"name"})
    assert json.loads(event) == {"name": "search"}


def test_free_text_values():
    assert (
        mask_emails("write to a.b+c@mail.example.com now") == "write to a***@mail.example.com now"
    )
    assert mask_value("call 13812345678") == "call 138****5678"
    assert mask_value(13812345678) == "138****5678"
    assert mask_value(42) == 42 and mask_value(True) is True


def test_a_malformed_csv_line_keeps_no_plain_name_or_email(tmp_path, ingest_json):
    head = "user_id,registered_at,sex,姓名,邮箱,note"
    lines = [head] + [f"u{i},2025-01-0{i % 9 + 1}T08:00:00,F,,,ok" for i in range(40)]
    lines.append("u99,2025-01-02T08:00:00,F,欧阳娜娜,nana@example.cn,one,too many")
    write(tmp_path / "patients.csv", "\n".join(lines) + "\n")
    code, report = ingest_json(tmp_path / "patients.csv", "--max-bad-ratio", "0.5")
    assert code == 0, report
    (q,) = rows(ingest_json.url, "quarantine")
    assert "欧阳娜娜" not in q["raw"] and "nana@example.cn" not in q["raw"]
    assert "u99" in q["raw"] and "n***@example.cn" in q["raw"]


def test_a_malformed_json_line_keeps_no_plain_name(tmp_path, ingest_json):
    good = [
        json.dumps({"user_id": f"u{i}", "registered_at": "2025-01-02T08:00:00"}) for i in range(30)
    ]
    bad = '{"user_id": "u99", "registered_at": "2025-01-02", "patient_name": "钱七", '
    write(tmp_path / "patients.jsonl", "\n".join([*good, bad]) + "\n")
    code, report = ingest_json(tmp_path / "patients.jsonl", "--max-bad-ratio", "0.5")
    assert code == 0, report
    (q,) = rows(ingest_json.url, "quarantine")
    assert "钱七" not in q["raw"] and "u99" in q["raw"]


def test_free_text_extras_are_scanned(tmp_path, ingest_json):
    write(
        tmp_path / "patients.csv",
        "user_id,registered_at,sex,comment\n"
        "u1,2025-01-02T08:00:00,F,请回电 13812345678 或写信 me@example.cn\n",
    )
    code, report = ingest_json(tmp_path / "patients.csv")
    assert code == 0, report
    (extra,) = rows(ingest_json.url, "ingest_extras")
    assert "13812345678" not in extra["data"] and "me@example.cn" not in extra["data"]
    assert json.loads(extra["data"]) == {"comment": "请回电 138****5678 或写信 m***@example.cn"}
