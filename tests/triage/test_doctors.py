"""Doctors: the chosen departments' doctors, by specialty words, availability, title, rating;
read from the warehouse (DuckDB and PostgreSQL) with the catalogue of its departments."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from careops.service import Ops
from careops.triage import catalogue as cat
from careops.triage.doctors import Doctor, DoctorIndex, rank_doctors
from careops.triage.service import Triage, load_doctors, open_triage
from careops.triage.zeroshot import rank
from careops.warehouse import connect, create_tables
from tests.conftest import fill

DOCTORS = [
    Doctor("N1", "甲医生", "神经内科", "主任医师", "脑血管病、癫痫", 4.9),
    Doctor("N2", "乙医生", "神经内科", "住院医师", "偏头痛、头痛、失眠", 4.2),
    Doctor("N3", "丙医生", "神经内科", "主治医师", "头疼、眩晕", 4.5),
    Doctor("C1", "丁医生", "心血管内科", "主任医师", "高血压、冠心病", 4.8),
    Doctor("P1", "戊医生", "儿科", "主治医师", "小儿呼吸道感染", 4.6),
    Doctor("R1", "己医生", "呼吸内科", "主任医师", "慢性咳嗽、哮喘", 4.7),
]


def _ask(text: str, doctors=DOCTORS):
    c = cat.default()
    return rank_doctors(rank(text, c), DoctorIndex.build(doctors), text, top=3)


def test_specialty_words_decide_within_the_department():
    got = _ask("偏头痛发作，头痛欲裂")
    assert [m.doctor.doctor_id for m in got][:2] == ["N2", "N3"]
    assert "偏头痛" in got[0].matched
    # 头疼 in the profile and 头痛欲裂 in the text: different words, one concept
    got = {m.doctor.doctor_id: m.matched for m in _ask("头痛")}
    assert got["N3"] == ("头疼",) and "头痛" in got["N2"]  # each doctor's own word


def test_without_specialty_words_title_and_rating_break_ties():
    got = _ask("手脚发麻")
    assert got[0].doctor.doctor_id == "N1"  # 主任医师, best rating


def test_unavailable_doctors_drop():
    away = [Doctor(**{**d.__dict__, "available": d.doctor_id != "N2"}) for d in DOCTORS]
    assert _ask("偏头痛发作", away)[0].doctor.doctor_id == "N3"


def test_paediatric_text_brings_paediatricians():
    assert _ask("宝宝咳嗽发烧两天")[0].doctor.department == "儿科"


def test_no_recognised_word_no_doctors():
    assert _ask("hello") == []


def _warehouse_with_doctors(url: str) -> None:
    con = connect(url)
    try:
        create_tables(con)
        fill(
            con,
            {
                "doctors": pa.table(
                    {
                        "doctor_id": ["D1", "D2", "D3", "D4"],
                        "name": ["甲", "乙", "丙", "丁"],
                        "department": ["心内科", "心内科", "消化科", "神内"],
                        "title": ["主任医师", "主治医师", "主治医师", "主任医师"],
                        "specialties": ["冠心病", "高血压、心律失常", "胃炎", "头痛"],
                    }
                ),
                "consultations": pa.table(
                    {
                        "consultation_id": ["c1", "c2", "c3"],
                        "user_id": ["u1", "u2", "u3"],
                        "doctor_id": ["D1", "D1", "D2"],
                        "department": ["心内科"] * 3,
                        "started_at": pa.array(
                            [dt.datetime(2025, 1, d, tzinfo=dt.UTC) for d in (1, 2, 3)],
                            pa.timestamp("us", tz="UTC"),
                        ),
                        "rating": [4.0, 5.0, 3.0],
                    }
                ),
            },
        )
    finally:
        con.disconnect()


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_catalogue_and_doctors_come_from_the_warehouse(kind, tmp_path, request):
    url = (
        f"duckdb:///{tmp_path / 'wh.duckdb'}"
        if kind == "duckdb"
        else request.getfixturevalue("pg_database")()
    )
    _warehouse_with_doctors(url)
    ops = Ops.open(url)
    doctors = {d.doctor_id: d for d in load_doctors(ops)}
    assert doctors["D1"].rating == pytest.approx(4.5) and doctors["D3"].rating is None
    assert doctors["D2"].specialties == "高血压、心律失常"
    t = open_triage(None, ops)
    assert t.source == "warehouse" and sorted(t.catalogue.names) == ["心内科", "消化科", "神内"]
    answer = t.ask("血压高，心慌", doctors=2)
    assert answer.departments[0].name == "心内科"
    assert [m.doctor.doctor_id for m in answer.doctors] == ["D2", "D1"]  # 高血压, 心律失常


def test_no_warehouse_means_the_default_catalogue(tmp_path):
    t = open_triage(None, Ops.open(f"duckdb:///{tmp_path / 'none.duckdb'}"))
    assert t.source == "default" and len(t.doctors) == 0
    f = tmp_path / "d.txt"
    f.write_text("神经内科\n心内科\n", encoding="utf-8")
    t = open_triage(f, Ops.open(f"duckdb:///{tmp_path / 'none.duckdb'}"))
    assert t.catalogue.names == ["神经内科", "心内科"]
    assert isinstance(t, Triage)


def test_simulated_hospital_doctors_have_specialties_of_their_department():
    from careops.sim import vocab
    from careops.sim.world import build_world

    w = build_world(3).doctors.to_pylist()
    assert w and all(d["specialties"] for d in w)
    for d in w:
        assert set(d["specialties"].split("、")) <= set(vocab.DOCTOR_SPECIALTIES[d["department"]])


def test_spec_example_on_the_simulated_hospital_gives_a_headache_specialist():
    """SPEC §4: "头痛+恶心+视力模糊" → 神经内科, a headache specialist (the simulator's doctors)."""
    from careops.sim.world import build_world

    rows = build_world(11).doctors.to_pylist()
    doctors = [
        Doctor(r["doctor_id"], r["name"], r["department"], r["title"], r["specialties"])
        for r in rows
    ]
    catalogue = cat.build(cat.Department(n) for n in sorted({d.department for d in doctors}))
    answer = Triage(catalogue, DoctorIndex.build(doctors)).ask("头痛+恶心+视力模糊", doctors=3)
    assert answer.departments[0].name == "神经内科"
    headache = {
        d.doctor_id
        for d in doctors
        if d.department == "神经内科" and ("头痛" in d.specialties or "偏头痛" in d.specialties)
    }
    assert headache and {m.doctor.doctor_id for m in answer.doctors} <= headache
