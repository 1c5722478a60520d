"""A tiny hospital with identifier columns, loaded through the real ingestion door into a
DuckDB or PostgreSQL warehouse with a contacts key and a pseudonym key configured."""

from __future__ import annotations

import base64
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from careops.config import get_settings
from careops.ingest.pipeline import ingest_paths
from careops.privacy.identifiers import check_digit
from careops.warehouse import create_tables, warehouse

PSEUDONYM = "pseudonym-key-for-tests-7f3a9c1e5b2d8046"


def resident_id(first17: str) -> str:
    """A resident id with the right check digit."""
    return first17 + check_digit(first17)


@dataclass
class Hospital:
    url: str
    contacts_key: str
    people: dict[str, dict[str, str]]  # user_id -> plain identifiers and birth date
    folder: Path


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def use_settings(monkeypatch, **env: str) -> None:
    """Set CAREOPS_* variables for this test and drop the cached settings."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    get_settings.cache_clear()


PEOPLE = {
    "U1": {
        "name": "张三",
        "phone": "13812345678",
        "id_number": "11010519491231002X",
        "birth": "1949-12-31",
        "city": "杭州",
    },
    "U2": {
        "name": "欧阳娜娜",
        "phone": "13987654321",
        "id_number": resident_id("44052419850615001"),
        "birth": "1985-06-15",
        "city": "成都",
    },
    "U3": {"name": "", "phone": "", "id_number": "", "birth": "2012-03-04", "city": "北京"},
}


def write_files(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        "user_id,registered_at,birth_date,sex,region,city,source_channel,referrer_id,姓名,手机号,身份证号"
    ]
    for i, (u, p) in enumerate(PEOPLE.items()):
        ref = "U1" if u == "U2" else ""
        region = "" if u == "U1" else "西南" if u == "U2" else "华北"
        rows.append(
            f"{u},2025-01-0{i + 1}T08:00:00Z,{p['birth']},{'M' if u != 'U2' else 'F'},{region},"
            f"{p['city']},app,{ref},{p['name']},{p['phone']},{p['id_number']}"
        )
    patients = folder / "patients.csv"
    patients.write_text("\n".join(rows) + "\n", encoding="utf-8")
    consultations = folder / "consultations.csv"
    consultations.write_text(
        "consultation_id,user_id,doctor_id,department,started_at,mode,complaint\n"
        "C1,U1,D1,心血管内科,2025-02-01T09:00:00Z,text,头痛 张三 13812345678\n"
        "C2,U1,D1,心血管内科,2025-03-15T10:30:00Z,video,复诊\n"
        "C3,U2,D2,儿科,2025-02-20T11:00:00Z,text,咳嗽\n",
        encoding="utf-8",
    )
    events = folder / "events.csv"
    events.write_text(
        "event_id,user_id,ts,name,properties\n"
        'E1,U1,2025-02-01T08:00:00Z,search,"{""query"": ""张三 失眠 13812345678""}"\n'
        'E2,U1,2025-02-02T08:00:00Z,invite,"{""invitee_id"": ""U2""}"\n'
        'E3,U2,2025-02-03T08:00:00Z,view_content,"{""topic"": ""sleep"", ""content_id"": '
        '""K1"", ""note"": ""欧阳娜娜""}"\n',
        encoding="utf-8",
    )
    return [patients, consultations, events]


def load(url: str, paths: list[Path]) -> None:
    with warehouse(url) as con:
        create_tables(con)
        report = ingest_paths(con, paths, settings=get_settings())
    assert report.exit_code == 0, report.to_json()


@pytest.fixture(
    params=[pytest.param("duckdb"), pytest.param("postgres", marks=pytest.mark.postgres)]
)
def hospital(request, tmp_path, monkeypatch) -> Hospital:
    """The tiny hospital loaded into a fresh warehouse (DuckDB, then PostgreSQL), with keys set
    in the environment (the settings every Ops of the test reads)."""
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    else:
        url = request.getfixturevalue("pg_database")()
    key = new_key()
    use_settings(
        monkeypatch,
        CAREOPS_WAREHOUSE=url,
        CAREOPS_PRIVACY__CONTACTS_KEY=key,
        CAREOPS_PRIVACY__PSEUDONYM_KEY=PSEUDONYM,
    )
    load(url, write_files(tmp_path / "files"))
    return Hospital(url, key, PEOPLE, tmp_path)


def later(folder: Path, **phones: str) -> Path:
    """A later export of patients carrying only new phone numbers."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "patients.csv"
    rows = ["user_id,registered_at,手机号"] + [
        f"{u},2025-01-01T08:00:00Z,{p}" for u, p in phones.items()
    ]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path
