from careops.warehouse import connect


def test_demo_simulates_ingests_and_summarises(tmp_path, run_cli):
    code, out, _ = run_cli("demo", "--users", "300", "--days", "120", "--dir", tmp_path / "demo")
    assert code == 0
    assert "患者画像" in out and "校准" in out and "导入结果" in out
    con = connect(f"duckdb:///{tmp_path / 'demo' / 'warehouse.duckdb'}")
    assert con.table("patients").count().execute() == 300
    assert con.table("quarantine").count().execute() == 0
