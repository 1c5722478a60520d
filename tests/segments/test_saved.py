"""Saved segments: typed records with versions in the state store (carried over once from the
warehouse table of earlier versions), membership per date with entries and exits in the
warehouse, save/delete/export audited in the transaction of the change."""

import json
from datetime import UTC, date, datetime
from pathlib import Path

import ibis
import pyarrow as pa
import pytest
import sqlalchemy as sa

from careops.errors import Conflict
from careops.segments import service
from careops.segments.errors import RuleError
from careops.segments.saved import SavedSegment, SegmentCreate, SegmentNotFound
from careops.service import Actor, Ops
from careops.state import read_audit
from careops.warehouse import connect, create_tables, warehouse
from tests.tags.hospital import Hospital

D1, D2 = date(2026, 6, 1), date(2026, 6, 3)


def _ops(warehouse: str, state: str, who: str = "ops-wang") -> Ops:
    return Ops.open(warehouse, state, actor=Actor(who, "user"))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def state_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    return request.getfixturevalue("pg_database")()


@pytest.fixture
def ops(tmp_path, state_url):
    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    con = connect(url)
    create_tables(con)
    h = Hospital(D1)
    h.patient("a").event("a", 1, "search", query="失眠")
    h.patient("b").event("b", 31, "search", query="失眠")
    h.patient("c").event("c", -1, "search", query="失眠")  # the day after D1: in D2's window
    h.load(con)
    con.disconnect()
    context = _ops(url, state_url)
    yield context
    context.close()


def test_save_list_and_replace_with_versions_and_audit(ops):
    save = service.save
    first, _ = save(
        ops,
        SegmentCreate(
            name="insomnia", rule='searched("失眠", within="30d")', description="失眠人群"
        ),
    )
    second, _ = save(ops, SegmentCreate(name="insomnia", rule='searched("失眠", within="31d")'))
    save(ops, SegmentCreate(name="women", rule='sex == "F"'))
    assert (first.version, second.version) == (1, 2)
    segs = service.list_saved(ops)
    assert [(s.name, s.version) for s in segs] == [("insomnia", 2), ("women", 1)]
    assert segs[0].text == 'searched(text="失眠", within="31d")'
    assert segs[0].saved_by == "user:ops-wang"
    public = segs[0].public().model_dump()
    assert "saved_by" not in public and public["rule"] == segs[0].text
    entry = read_audit(ops.state)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "user:ops-wang",
        "segment.save",
        "women",
    )
    with pytest.raises(
        SegmentNotFound, match="unknown saved segment 'insomina'; did you mean 'insomnia'"
    ):
        service.get(ops, "insomina")
    with pytest.raises(RuleError, match="segment name"):
        SegmentCreate(name="bad name; drop", rule='sex == "F"')
    with pytest.raises(RuleError, match="unknown tag"):
        save(ops, SegmentCreate(name="typo", rule='sexx == "F"'))
    assert [s.name for s in service.list_saved(ops)] == ["insomnia", "women"]


def test_delete_keeps_history_and_refuses_a_targeted_segment(ops):
    from careops.experiments import service as experiments
    from careops.state.models import saved_segment_versions

    service.save(ops, SegmentCreate(name="women", rule='sex == "F"'))
    service.save(ops, SegmentCreate(name="insomnia", rule='searched("失眠", within="30d")'))
    experiments.create(
        ops,
        {
            "key": "women-sms",
            "variants": {"a": 0.5, "b": 0.5},
            "segment": "women",
            "primary_metrics": ["paid_conversion"],
        },
    )
    with pytest.raises(Conflict, match=r"targeted by experiment.*women-sms"):
        service.delete(ops, "women")
    assert service.delete(ops, "insomnia").version == 1
    assert [s.name for s in service.list_saved(ops)] == ["women"]
    with ops.state.connect() as conn:
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(saved_segment_versions)).scalar()
            == 2
        )
    assert read_audit(ops.state)[0]["action"] == "segment.delete"


def test_membership_history_counts_entries_and_exits(ops):
    service.save(ops, SegmentCreate(name="insomnia", rule='searched("失眠", within="30d")'))
    assert service.refresh(ops, "insomnia", D1) == 1  # a
    assert service.refresh(ops, "insomnia", D2) == 2  # a, c
    assert service.refresh(ops, "insomnia", D2) == 2  # re-run: latest batch counts
    assert [vars(r) for r in service.history(ops, "insomnia")] == [
        {"as_of": D1, "members": 1, "entered": None, "left": None},
        {"as_of": D2, "members": 2, "entered": 1, "left": 0},
    ]


def test_export_is_audited_with_who_what_how_many_and_where(ops, tmp_path):
    service.save(ops, SegmentCreate(name="insomnia", rule='searched("失眠", within="30d")'))
    path = tmp_path / "out.csv"
    result = service.export(ops, service.Target(segment="insomnia"), D2, path)
    assert result.count == 2 and path.is_file()
    entry = read_audit(ops.state)[0]
    assert (entry["actor"], entry["action"], entry["target"]) == (
        "user:ops-wang",
        "segment.export",
        "segment:insomnia",
    )
    assert entry["detail"] == {
        "segment": "insomnia",
        "rule": result.rule_text,
        "as_of": "2026-06-03",
        "rows": 2,
        "path": str(path.resolve()),
        "columns": [],
    }
    rule = service.export(ops, service.Target(rule='sex == "F"'), D2, tmp_path / "f.parquet")
    assert read_audit(ops.state)[0]["detail"]["rows"] == rule.count


def test_a_failing_change_leaves_no_audit_row_and_a_failing_audit_no_change(ops):
    """Audit rows commit and roll back with their change (one transaction)."""
    from careops.state.models import saved_segments

    service.save(ops, SegmentCreate(name="women", rule='sex == "F"'))
    n = len(read_audit(ops.state))
    with pytest.raises(SegmentNotFound):
        service.delete(ops, "nobody")
    assert len(read_audit(ops.state)) == n
    _refuse_audit(ops.state)
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.save(ops, SegmentCreate(name="men", rule='sex == "M"'))
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.delete(ops, "women")
    out = ops.warehouse_url.replace("duckdb:///", "").replace("w.duckdb", "women.csv")
    with pytest.raises(sa.exc.DBAPIError, match="audit refused"):
        service.export(ops, service.Target(segment="women"), D2, out)
    assert not Path(out).exists()  # no patient list leaves without its audit row
    with ops.state.connect() as conn:
        assert [r.name for r in conn.execute(sa.select(saved_segments.c.name))] == ["women"]


def _refuse_audit(engine) -> None:
    """A real database rule that makes every audit insert fail (a full or broken audit table)."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "BEGIN SELECT RAISE(ABORT, 'audit refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION refuse_audit() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'audit refused'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log "
                "FOR EACH ROW EXECUTE FUNCTION refuse_audit()"
            )


def _old_warehouse(url: str) -> None:
    """A warehouse as an earlier CareOps left it: definitions appended to a warehouse table."""
    con = connect(url)
    create_tables(con)
    ts = pa.timestamp("us", tz="UTC")
    con.create_table(
        "segment_definitions",
        schema=ibis.schema(
            {
                "name": "string",
                "rule_json": "string",
                "rule_text": "string",
                "description": "string",
                "saved_at": "timestamp('UTC')",
            }
        ),
    )

    def row(name, rule, text, desc, day):
        return {
            "name": name,
            "rule_json": rule if isinstance(rule, str) else json.dumps(rule, ensure_ascii=False),
            "rule_text": text,
            "description": desc,
            "saved_at": datetime(2026, 5, day, tzinfo=UTC),
        }

    sex_f = {"tag": "sex", "op": "==", "value": "F"}
    con.insert(
        "segment_definitions",
        pa.Table.from_pylist(
            [
                row("women", {"tag": "sex", "op": "==", "value": "M"}, 'sex == "M"', "", 1),
                row("women", sex_f, 'sex == "F"', "女性", 3),
                row("old40", {"tag": "age", "op": ">=", "value": 40}, "age >= 40", None, 2),
                row("broken", "{not json", "?", "", 2),
            ],
            schema=pa.schema(
                [
                    ("name", pa.string()),
                    ("rule_json", pa.string()),
                    ("rule_text", pa.string()),
                    ("description", pa.string()),
                    ("saved_at", ts),
                ]
            ),
        ),
    )
    con.disconnect()


@pytest.mark.parametrize("kind", ["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def test_an_old_warehouse_s_saved_segments_are_carried_over_once(
    tmp_path, state_url, run_cli, kind, request
):
    url = (
        f"duckdb:///{tmp_path / 'old.duckdb'}"
        if kind == "duckdb"
        else request.getfixturevalue("pg_database")()
    )
    _old_warehouse(url)
    ops = _ops(url, state_url)
    segs = {s.name: s for s in service.list_saved(ops)}
    assert sorted(segs) == ["old40", "women"]  # an unreadable row is left behind
    assert (segs["women"].version, segs["women"].text, segs["women"].description) == (
        2,
        'sex == "F"',
        "女性",
    )
    assert segs["women"].saved_at == datetime(2026, 5, 3, tzinfo=UTC)
    assert segs["old40"].saved_by == "carried-over"
    entry = read_audit(ops.state)[0]
    assert (entry["action"], entry["detail"]) == (
        "segment.carry_over",
        {"segments": 2, "versions": 3, "skipped": 1},
    )
    # experiments refer to carried-over segments by name
    code, _, err = run_cli(
        "experiment", "create", _definition(tmp_path, "women"), "-w", url, "--state", state_url
    )
    assert code == 0, err
    # once: a segment deleted afterwards does not come back; the old table is left in place
    service.delete(ops, "old40")
    assert [s.name for s in service.list_saved(_ops(url, state_url))] == ["women"]
    with warehouse(url, read_only=True) as con:
        assert "segment_definitions" in con.list_tables()
    ops.close()


def test_a_name_saved_in_the_state_store_keeps_its_own_definition(tmp_path, state_url):
    url = f"duckdb:///{tmp_path / 'old.duckdb'}"
    shared = f"duckdb:///{tmp_path / 'new.duckdb'}"
    con = connect(shared)
    create_tables(con)
    con.disconnect()
    service.save(_ops(shared, state_url), SegmentCreate(name="women", rule='sex == "U"'))
    _old_warehouse(url)  # a second warehouse with old definitions, same state store
    segs = {s.name: s for s in service.list_saved(_ops(url, state_url))}
    assert segs["women"].text == 'sex == "U"' and segs["old40"].version == 1


def test_saved_segment_of_checks_the_rule():
    seg = SavedSegment.of("women", 'sex == "F"')
    assert seg.version == 1 and seg.text == 'sex == "F"'
    with pytest.raises(RuleError):
        SavedSegment.of("women", 'sexx == "F"')


def _definition(tmp_path, segment: str):
    path = tmp_path / "exp.yaml"
    path.write_text(
        json.dumps(
            {
                "key": "carried",
                "variants": {"a": 0.5, "b": 0.5},
                "segment": segment,
                "primary_metrics": ["paid_conversion"],
            }
        ),
        encoding="utf-8",
    )
    return path


def test_segment_cli_by_name_list_delete(ops, tmp_path, run_cli):
    where = ["-w", ops.warehouse_url, "--state", ops.state_url]
    code, out, err = run_cli(
        "segment",
        "save",
        "insomnia",
        "--where",
        'searched("失眠", within="30d")',
        "--description",
        "[red]失眠",
        *where,
    )
    assert code == 0, err
    assert "insomnia (v1)" in out
    code, out, err = run_cli(
        "segment", "count", "--segment", "insomnia", "--as-of", "2026-06-03", "--json", *where
    )
    assert code == 0, err
    assert json.loads(out)["count"] == 2
    code, out, err = run_cli(
        "segment",
        "export",
        "--segment",
        "insomnia",
        "--as-of",
        "2026-06-03",
        "--out",
        tmp_path / "x.csv",
        *where,
    )
    assert code == 0 and "audited" in out, err
    assert read_audit(ops.state)[0]["detail"]["rows"] == 2
    code, out, _ = run_cli("segment", "list", "--json", *where)
    [listed] = json.loads(out)
    assert (listed["name"], listed["description"], "saved_by" in listed) == (
        "insomnia",
        "[red]失眠",
        False,
    )
    code, _, err = run_cli(
        "segment",
        "count",
        "--segment",
        "insomnia",
        "--where",
        'sex == "F"',
        "--as-of",
        "2026-06-03",
        *where,
    )
    assert code == 2 and "one of the two" in err
    code, out, err = run_cli("segment", "delete", "insomnia", *where)
    assert code == 0, err
    code, _, err = run_cli(
        "segment", "count", "--segment", "insomnia", "--as-of", "2026-06-03", *where
    )
    assert code == 2 and "unknown saved segment 'insomnia'" in err
