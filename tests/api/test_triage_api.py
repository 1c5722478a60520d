"""POST /api/v1/triage: red flag first, departments of the hospital's own doctors, audited
without the patient's words."""

from __future__ import annotations


def test_a_doctor_gets_departments_from_the_hospitals_catalogue(api, login):
    headers = login("medical", ("儿科",))
    r = api.post("/api/v1/triage", json={"text": "最近老是胸闷心慌, 爬楼梯就喘"}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["emergency"] is None and body["recognised"]
    assert body["departments"] and body["departments"][0]["words"]
    scores = [d["score"] for d in body["departments"]]
    assert scores == sorted(scores, reverse=True)


def test_a_red_flag_comes_first_and_a_negation_does_not_fire(api, login):
    headers = login("medical", ("儿科",))
    text = "胸口压榨样疼痛, 出冷汗, 疼到左胳膊"
    r = api.post("/api/v1/triage", json={"text": text}, headers=headers).json()
    assert r["emergency"] and "120" in r["emergency"]["advice"]
    calm = api.post("/api/v1/triage", json={"text": "不胸痛, 就是有点咳嗽"}, headers=headers)
    assert calm.json()["emergency"] is None


def test_a_batch_answers_in_order_and_echoes_ids(api, login):
    headers = login("medical", ("儿科",))
    items = [{"id": i, "text": t} for i, t in enumerate(["胃疼反酸", "宝宝发烧39度", "皮肤起疹子"])]
    r = api.post("/api/v1/triage/batch", json={"items": items}, headers=headers)
    assert r.status_code == 200
    assert [a["id"] for a in r.json()["items"]] == [0, 1, 2]
    assert r.json()["items"][1]["paediatric"] is True


def test_bad_input_is_422_naming_the_field(api, login):
    headers = login("medical", ("儿科",))
    for body in ({"text": ""}, {"text": "x" * 2001}, {"text": "头痛", "top": 0}, {}, {"t": 1}):
        r = api.post("/api/v1/triage", json=body, headers=headers)
        assert r.status_code == 422, body
    too_many = {"items": [{"id": i, "text": "头痛"} for i in range(101)]}
    assert api.post("/api/v1/triage/batch", json=too_many, headers=headers).status_code == 422
    weird = api.post("/api/v1/triage", json={"text": "<script>\x00\u202e头痛"}, headers=headers)
    assert weird.status_code in (200, 422) and "<script>" not in weird.text


def test_the_audit_records_the_outcome_never_the_words(api, login):
    from careops.state.store import read_audit

    headers = login("medical", ("儿科",))
    api.post("/api/v1/triage", json={"text": "我的秘密症状: 头痛欲裂"}, headers=headers)
    rows = [r for r in read_audit(api.app.state.state_engine) if r["action"] == "triage.ask"]
    assert rows and "秘密" not in str(rows[-1])
