"""The channel interface and the file channel: one JSON line per message, flushed before `sent`."""

from __future__ import annotations

import json

import pytest

from careops.config import Settings
from careops.errors import ConfigError
from careops.journeys.channels import Channel, Message, Outcome, open_channel
from careops.journeys.channels.base import send_all


def msg(i: int) -> Message:
    return Message(
        idempotency_key=f"j:s:u{i}",
        user_id=f"u{i}",
        channel="sms",
        purpose="service",
        template="t",
        address="13800000000",
        body="您好\n<b>复诊</b>提醒 \u202e",
        params={"name": "王"},
    )


def test_the_file_channel_writes_each_message_before_answering(tmp_path):
    settings = Settings(journeys={"file_channel_path": str(tmp_path / "out" / "m.jsonl")})
    channel = open_channel("file", settings)
    assert isinstance(channel, Channel)
    first = channel.send(msg(1))
    assert first == Outcome("sent", provider_id="j:s:u1")
    lines = (tmp_path / "out" / "m.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1  # on disk already, before close
    assert send_all(channel, [msg(2), msg(3)]) == [
        Outcome("sent", provider_id=f"j:s:u{i}") for i in (2, 3)
    ]
    channel.close()
    records = [json.loads(x) for x in (tmp_path / "out" / "m.jsonl").read_text().splitlines()]
    assert [r["user_id"] for r in records] == ["u1", "u2", "u3"]
    assert records[0]["body"] == msg(1).body  # markup and controls kept as data, one line each


def test_the_file_channel_defaults_to_beside_the_warehouse(tmp_path):
    settings = Settings(warehouse=f"duckdb:///{tmp_path}/wh/warehouse.duckdb")
    channel = open_channel("file", settings)
    channel.send(msg(1))
    channel.close()
    assert (tmp_path / "wh" / "outbox" / "messages.jsonl").exists()


def test_an_unknown_channel_is_a_clear_configuration_error():
    with pytest.raises(ConfigError, match="carrier_pigeon"):
        open_channel("carrier_pigeon", Settings())


def test_the_file_peer_drops_a_second_message_under_the_same_key(tmp_path):
    path = tmp_path / "m.jsonl"
    settings = Settings(journeys={"file_channel_path": str(path)})
    one = open_channel("file", settings)
    assert one.send(msg(1)) == Outcome("sent", provider_id="j:s:u1")
    again = one.send(msg(1))
    assert (again.status, again.code) == ("sent", "duplicate")
    one.close()
    # another writer (a restarted worker) sees the key too, and a line cut by a kill is
    # closed before the next one and skipped
    with open(path, "a", encoding="utf-8") as fh:
        fh.write('{"idempotency_key": "j:s:u9", "body": "cut')
    two = open_channel("file", settings)
    assert two.send(msg(1)).code == "duplicate"
    assert two.send(msg(2)).code is None
    assert two.send(msg(2)).code == "duplicate"
    two.close()
    lines = path.read_text(encoding="utf-8").splitlines()
    keys = []
    for line in lines:
        try:
            keys.append(json.loads(line)["idempotency_key"])
        except json.JSONDecodeError:
            keys.append("cut")
    assert keys == ["j:s:u1", "cut", "j:s:u2"]
