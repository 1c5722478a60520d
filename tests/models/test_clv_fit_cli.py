"""`careops clv fit` on any transaction log: the CDNOW figures through the file door, the holdout
beside the naive baseline, and bad input refused with the column, row and reason (no traceback)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests.models import cdnow

CDNOW_ARGS = [
    "clv",
    "fit",
    "--transactions",
    str(cdnow.TRANSACTIONS),
    "--customer-col",
    "sample_id",
    "--date-col",
    "date",
    "--date-format",
    "%Y%m%d",
    "--calibration-end",
    "1997-09-30",
]


def test_cdnow_through_the_cli_json(run_cli):
    code, out, err = run_cli(
        *CDNOW_ARGS, "--amount-col", "amount", "--holdout-end", "1998-06-30", "--json"
    )
    assert code == 0, err
    data = json.loads(out)
    p = data["params"]
    assert {k: round(v, 3) for k, v in p.items() if k in ("r", "alpha", "a", "b")} == {
        "r": 0.243,
        "alpha": 4.414,
        "a": 0.793,
        "b": 2.426,
    }
    assert (round(p["p"], 2), round(p["q"], 2), round(p["v"], 2)) == (6.25, 3.74, 15.44)
    assert round(data["log_likelihood"], 1) == -9582.4
    h = data["holdout"]
    assert set(h) >= {"mae", "naive_mae", "actual_total", "predicted_total"}
    # 39 holdout weeks: 1,882 repeat purchase days actually happened; BG/NBD predicts ~1,653
    # (the paper's Figure 3 shows the same under-forecast of the holdout's early weeks)
    assert h["actual_total"] == 1882
    assert h["predicted_total"] == pytest.approx(1653.4, abs=0.5)
    assert h["mae"] == pytest.approx(0.785, abs=0.001)
    assert h["mae"] < h["naive_mae"] == pytest.approx(1.024, abs=0.001)
    assert data["customers"] == 2357 and data["repeat_customers"] == 946


def test_cdnow_table_output_and_days(run_cli):
    code, out, _ = run_cli(*CDNOW_ARGS, "--unit", "day", "--holdout-end", "1998-06-30")
    assert code == 0
    assert "BG/NBD" in out and "alpha" in out and "朴素基线" in out
    # a day unit rescales alpha by 7 and keeps r, a, b and the forecast (up to rounding of T)
    code, out, _ = run_cli(*CDNOW_ARGS, "--unit", "day", "--json")
    p = json.loads(out)["params"]
    assert p["alpha"] == pytest.approx(4.414 * 7, rel=0.01) and p["r"] == pytest.approx(
        0.243, abs=0.002
    )
    assert json.loads(out)["holdout"] is None


def write_csv(tmp_path: Path, text: str, name: str = "log.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def fit(run_cli, path, *extra, calibration_end="2024-06-30"):
    return run_cli(
        "clv",
        "fit",
        "--transactions",
        str(path),
        "--customer-col",
        "cid",
        "--date-col",
        "day",
        "--calibration-end",
        calibration_end,
        *extra,
    )


GOOD = (
    "cid,day,amount\na,2024-01-01,10\na,2024-02-01,12\nb,2024-01-05,30\nb,2024-03-05,20\n"
    "c,2024-01-02,5\n"
)


def test_small_iso_log_fits(run_cli, tmp_path):
    code, out, err = fit(run_cli, write_csv(tmp_path, GOOD), "--amount-col", "amount", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["customers"] == 3 and data["repeat_customers"] == 2
    assert any("only 2 customers made a repeat purchase" in n for n in data["notes"])


def test_header_with_bom_spaces_and_tabs(run_cli, tmp_path):
    rows = "a,2024-01-01\na,2024-02-01\nb,2024-01-03\n"
    for name, text in (
        ("bom.csv", "\ufeffcid,day\n" + rows),
        ("spaced.csv", " cid , day \n" + rows),
        ("log.tsv", "cid\tday\n" + rows.replace(",", "\t")),
    ):
        code, out, err = fit(run_cli, write_csv(tmp_path, text, name), "--json")
        assert code == 0, (name, err)
        assert json.loads(out)["customers"] == 2


@pytest.mark.parametrize(
    ("text", "extra", "words"),
    [
        (GOOD, ["--amount-col", "price"], ["'price'", "cid", "day", "amount"]),
        ("cust,day\na,2024-01-01\n", [], ["'cid'", "cust"]),
        ("cid,day\n", [], ["no rows"]),
        ("", [], ["empty"]),
        ("cid,day\na,2024-01-01\nb,2024-01-02\nc,2024-01-03\n", [], ["only once", "repeat"]),
        ("cid,day\na,2024-01-01\na,2099-01-01\n", [], ["'day'", "2099-01-01", "future", "row 2"]),
        (
            "cid,day\na,2024-01-01\na,2024-13-01\na,yesterday\n",
            [],
            ["'day'", "'2024-13-01'", "row 2, 3"],
        ),
        ("cid,day\na,2024-01-01\n,2024-02-01\n", [], ["'cid'", "empty customer id", "row 2"]),
        ("cid,day\na,2024-01-01\na,\n", [], ["'day'", "empty date", "row 2"]),
        (
            "cid,day,amount\na,2024-01-01,10\na,2024-02-01,-5\n",
            ["--amount-col", "amount"],
            ["'amount'", "negative", "row 2"],
        ),
        (
            "cid,day,amount\na,2024-01-01,10\na,2024-02-01,ten\n",
            ["--amount-col", "amount"],
            ["'amount'", "'ten'", "not a number", "row 2"],
        ),
        (
            "cid,day,amount\na,2024-01-01,1e400\n",
            ["--amount-col", "amount"],
            ["'amount'", "row 1"],
        ),
        ("cid,day\na,2024-01-01\n", ["--date-format", "%Y%m%d"], ["'day'", "%Y%m%d", "row 1"]),
        (GOOD, ["--holdout-end", "2024-06-01"], ["--holdout-end", "after"]),
        (GOOD, ["--holdout-end", "2099-01-01"], ["--holdout-end", "future"]),
        (GOOD, ["--unit", "month"], ["--unit", "week or day"]),
        (GOOD, ["--holdout-end", "soon"], ["--holdout-end", "not a date"]),
        ('cid,day\n"a,2024-01-01\n', [], ["cannot read"]),
        ("cid,cid,day\na,a,2024-01-01\n", [], ["'cid'", "2 times"]),
    ],
)
def test_bad_input_names_field_and_reason(run_cli, tmp_path, text, extra, words):
    code, out, err = fit(run_cli, write_csv(tmp_path, text), *extra)
    assert code == 2, out
    assert "Traceback" not in err
    flat = " ".join(err.split())
    for word in words:
        assert word in flat


@pytest.mark.parametrize(
    ("end", "words"),
    [
        ("2023-01-01", ["--calibration-end", "before the first purchase"]),
        ("2099-01-01", ["--calibration-end", "future"]),
        ("06/30/2024", ["--calibration-end", "not a date"]),
    ],
)
def test_bad_calibration_end(run_cli, tmp_path, end, words):
    code, _, err = fit(run_cli, write_csv(tmp_path, GOOD), calibration_end=end)
    assert code == 2 and all(w in " ".join(err.split()) for w in words)


def test_missing_file_and_binary_file(run_cli, tmp_path):
    code, _, err = fit(run_cli, tmp_path / "nope.csv")
    assert code == 2 and "not found" in err
    binary = tmp_path / "x.csv"
    binary.write_bytes(b"cid,day\n\xff\xfe\x00\x01,2024-01-01\n")
    code, _, err = fit(run_cli, binary)
    assert code == 2 and "Traceback" not in err and "cannot read" in " ".join(err.split())


def test_parquet_with_typed_columns(run_cli, tmp_path):
    from datetime import datetime

    path = tmp_path / "log.parquet"
    pq.write_table(
        pa.table(
            {
                "cid": pa.array([1, 1, 2, 2, 3], pa.int64()),
                "day": pa.array(
                    [datetime(2024, 1, d, 23, 30) for d in (1, 20, 3, 9, 4)], pa.timestamp("us")
                ),
                "amount": pa.array([10.0, 12.0, 30.0, 20.0, 5.0]),
            }
        ),
        path,
    )
    code, out, err = fit(run_cli, path, "--amount-col", "amount", "--json")
    assert code == 0, err
    assert json.loads(out)["repeat_customers"] == 2


HOSTILE = [
    "[/bold]",
    "[red]x",
    "\x1b[31mred\x1b[0m",
    "a\x00b",
    "\u202eevil",
    "\r",
    "\t",
    "0000-00-00",
    "9999-12-31",
    "2025-02-30",
    "1e309",
    "-1e309",
    "NaN",
    "-0",
    "inf",
    "",
    " ",
    '"',
    "'; drop--",
    "😀" * 20,
    "x" * 10_000,
    "2024-01-01T25:00",
    "2024-1-1",
    "20240101",
    "-5",
    "1,5",
    "0x10",
]


def test_fuzz_the_file_door(run_cli, tmp_path):
    """Seeded hostile values in any cell: exit 0 or 2, never a traceback, and a refusal always
    names a column."""
    rng = random.Random(20261201)
    base = [
        ("a", "2024-01-01", "10"),
        ("a", "2024-02-01", "12"),
        ("b", "2024-01-05", "30"),
        ("b", "2024-03-05", "20"),
        ("c", "2024-01-02", "5"),
    ]
    outcomes = set()
    for i in range(40):
        rows = [list(r) for r in base]
        for _ in range(rng.randint(1, 3)):
            rows[rng.randrange(len(rows))][rng.randrange(3)] = rng.choice(HOSTILE)
        path = tmp_path / f"f{i}.csv"
        with path.open("w", encoding="utf-8", newline="") as fh:
            import csv

            writer = csv.writer(fh)
            writer.writerow(["cid", "day", "amount"])
            writer.writerows(rows)
        code, out, err = fit(run_cli, path, "--amount-col", "amount", "--json")
        assert code in (0, 2), (rows, err)
        assert "Traceback" not in err
        if code == 2:
            assert any(c in err for c in ("'cid'", "'day'", "'amount'", "cannot read", "only once"))
            assert "\x1b[31m" not in err and "\u202e" not in err
        else:
            json.loads(out)
        outcomes.add(code)
    assert outcomes == {0, 2}
