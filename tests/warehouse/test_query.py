"""The statement check (the second wall) and a fuzz test of the whole door."""

from __future__ import annotations

import contextlib
import random

import pytest

from careops.errors import CareOpsError, Forbidden, InvalidInput
from careops.warehouse.query import ANALYST_TABLES, check_statement

KINDS = ["duckdb", "postgres", "pyspark"]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM orders",
        "select o.user_id, sum(o.amount_cny) from orders o join patients p "
        "on p.user_id = o.user_id "
        "group by 1 having sum(o.amount_cny) > 10 order by 2 desc limit 5",
        "WITH a AS (SELECT user_id FROM events), b AS (SELECT * FROM a) SELECT count(*) FROM b",
        "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r WHERE n < 5) "
        "SELECT * FROM r",
        "SELECT user_id, row_number() OVER (PARTITION BY user_id ORDER BY ts) FROM events",
        "SELECT * FROM orders WHERE user_id IN (SELECT user_id FROM patients WHERE sex = 'F')",
        "SELECT count(*), count(DISTINCT user_id) FROM events",
        "SELECT * FROM (VALUES (1, 'a')) AS t(x, y)",
        "SELECT 1 UNION SELECT 2",
        'SELECT "user_id" FROM "orders"',
    ],
)
def test_analyst_queries_pass(kind, text):
    assert check_statement(text, kind).text == text


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "text",
    [
        "SELECT * FROM quarantine",
        "SELECT * FROM contacts",
        "SELECT * FROM _loads",
        "SELECT * FROM ingest_extras",
        "SELECT * FROM audit_log",
        "SELECT * FROM orders o JOIN quarantine q ON q.record = o.order_id",
        "WITH x AS (SELECT * FROM contacts) SELECT * FROM x",
        # a CTE named like a table does not hide a read of the real table where it is not visible
        "WITH a AS (SELECT * FROM quarantine), quarantine AS (SELECT 1) SELECT * FROM a",
        "SELECT (SELECT count(*) FROM contacts)",
        "SELECT * FROM information_schema.tables",
        "SELECT * FROM main.orders",
        "DELETE FROM orders",
        "UPDATE orders SET amount_cny = 0",
        "DROP TABLE orders",
        "CREATE TABLE x AS SELECT 1",
        "SET x = 1",
        "RESET ROLE",
    ],
)
def test_reaching_outside_the_analyst_tables_is_forbidden(kind, text):
    with pytest.raises(Forbidden):
        check_statement(text, kind)


def test_the_analyst_tables_are_the_canonical_ones_without_identifiers():
    assert "contacts" not in ANALYST_TABLES and "quarantine" not in ANALYST_TABLES
    assert {"patients", "events", "orders", "observations"} <= ANALYST_TABLES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("SELECT 1; SELECT 2", "exactly one statement"),
        ("SELECT 'x" + "a" * 200_000 + "'", "characters long"),
        ("SELECT " + "(" * 50 + "1" + ")" * 50, "nested too deeply"),
        ("SELECT " + "(" * 5000 + "1" + ")" * 5000, "nested too deeply"),
        ("SELECT \x00 FROM orders", "NUL"),
        ("SELEC * FROM orders", "does not parse"),
    ],
)
def test_malformed_text_is_invalid_input(text, message):
    for kind in KINDS:
        with pytest.raises(InvalidInput, match=message):
            check_statement(text, kind)


def test_spark_runs_the_checked_tree_not_the_given_text():
    """Comments are dropped: a line comment holding `*/` cannot become code when regenerated."""
    checked = check_statement(
        "SELECT /* c */ user_id FROM orders -- */ , reflect('a', 'b') /*", "pyspark"
    )
    assert checked.canonical == "SELECT user_id FROM orders"


# --- fuzz ---------------------------------------------------------------------------------------

PIECES = [
    "SELECT",
    "FROM",
    "WHERE",
    "(",
    ")",
    "'",
    '"',
    "`",
    ",",
    ";",
    "*",
    "orders",
    "events",
    "quarantine",
    "read_csv",
    "'/etc/passwd'",
    "main.",
    "csv.",
    "UNION",
    "WITH",
    "AS",
    "JOIN",
    "ON",
    "--",
    "/*",
    "*/",
    "$$",
    "::",
    "[",
    "]",
    "{",
    "}",
    "\\",
    "%s",
    "%(x)s",
    "\x1b[31m",
    "\u202e",
    "\ufeff",
    "患者",
    "🙂",
    "\t",
    "\n",
    "\r",
    "\x7f",
    "NULL",
    "1e309",
    "9" * 40,
    "-",
    "+",
    "||",
    "ATTACH",
    "COPY",
    "INSTALL",
    "query_table",
    "getenv",
    "=",
    "LATERAL",
    "RECURSIVE",
    "OVER",
    "PARTITION BY",
    "ORDER BY",
    "x",
    "count",
    "DISTINCT",
]
VALID = [
    "SELECT user_id, count(*) FROM events GROUP BY 1",
    "SELECT * FROM orders WHERE amount_cny > 10",
    "WITH a AS (SELECT * FROM patients) SELECT city FROM a",
]


def hostile(rng: random.Random) -> str:
    shape = rng.randrange(7)
    if shape == 0:  # keyword soup
        return " ".join(rng.choice(PIECES) for _ in range(rng.randrange(1, 40)))
    if shape == 1:  # deep nesting, balanced or not
        depth = rng.choice([10, 45, 49, 50, 51, 200, 3000])
        return "SELECT " + "(" * depth + "1" + ")" * rng.choice([depth, depth - 1, 0])
    if shape == 2:  # huge literal or identifier
        size = rng.choice([1000, 99_000, 100_001, 300_000])
        return rng.choice(
            ["SELECT '{}' FROM orders", 'SELECT "{}" FROM orders', "SELECT * FROM {}"]
        ).format("x" * size)
    if shape == 3:  # control characters and unicode anywhere
        text = rng.choice(VALID)
        i = rng.randrange(len(text))
        junk = "".join(
            chr(
                rng.choice(
                    [
                        rng.randrange(0, 32),
                        rng.randrange(0x80, 0xA0),
                        rng.randrange(0x2000, 0x2070),
                        rng.randrange(0x4E00, 0x4F00),
                        rng.randrange(0x1F600, 0x1F650),
                        0xFFFD,
                        0xD7FF,
                    ]
                )
            )
            for _ in range(rng.randrange(1, 6))
        )
        return text[:i] + junk + text[i:]
    if shape == 4:  # a valid query cut or with a character dropped
        text = rng.choice(VALID)
        i = rng.randrange(len(text))
        return text[:i] if rng.random() < 0.5 else text[:i] + text[i + 1 :]
    if shape == 5:  # random bytes as text
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200))).decode(
            "utf-8", "replace"
        )
    return rng.choice(VALID) + rng.choice([" ; DROP TABLE orders", " -- x", " /*", "'", ")"])


@pytest.mark.parametrize("kind", KINDS)
def test_fuzz_the_check_never_tracebacks(kind):
    rng = random.Random(20251201)
    for _ in range(400):
        text = hostile(rng)
        with contextlib.suppress(CareOpsError):
            check_statement(text, kind)


def test_fuzz_the_door_never_tracebacks(analyst_ops):
    """Generated hostile text through `run_query` on DuckDB: every outcome is rows or a
    CareOps error (the CLI's one-line message), never anything else."""
    from careops.warehouse.analyst import run_query

    ops = analyst_ops("duckdb")
    rng = random.Random(7)
    outcomes = {"rows": 0, "refused": 0}
    for _ in range(80):
        text = hostile(rng)
        try:
            with run_query(ops, text, timeout_s=20) as run:
                for _batch in run:
                    pass
            outcomes["rows"] += 1
        except CareOpsError:
            outcomes["refused"] += 1
    assert outcomes["refused"] > 50 and sum(outcomes.values()) == 80
