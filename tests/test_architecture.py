"""The shape the code keeps: domain modules know nothing of the shells around them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

SRC = Path(__file__).parents[1] / "src" / "careops"
# the shells: the CLI modules, their shared helpers and terminal views; the benchmark runner
SHELLS = {"cli.py", "cliutil.py", "demo.py", "bench.py", "__main__.py", "view.py", "data_cli.py"}
DRIVERS = {"duckdb", "psycopg", "pyspark"}


def _domain_modules() -> list[Path]:
    return [p for p in SRC.rglob("*.py") if p.name not in SHELLS and "migrations" not in p.parts]


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_no_domain_module_imports_typer_or_rich():
    offenders = {
        str(p.relative_to(SRC)): sorted(_imports(p) & {"typer", "rich"})
        for p in _domain_modules()
        if _imports(p) & {"typer", "rich"}
    }
    assert offenders == {}


def test_only_the_warehouse_package_talks_to_an_engine():
    offenders = {
        str(p.relative_to(SRC)): sorted(_imports(p) & DRIVERS)
        for p in _domain_modules()
        if "warehouse" not in p.parts and _imports(p) & DRIVERS
    }
    assert offenders == {}


def test_no_module_keeps_a_warehouse_open_without_closing_it():
    """`connect(...)` outside the warehouse package leaks a connection; use `warehouse()`."""
    pattern = re.compile(r"\b(open_warehouse|connect)\(")
    offenders = []
    for path in SRC.rglob("*.py"):
        if "warehouse" in path.parts or "state" in path.parts:
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            code = line.split("#", 1)[0]
            if (
                pattern.search(code)
                and "def " not in code
                and "engine.connect(" not in code
                and ".connect(" not in code.replace("ibis.", "")
            ):
                offenders.append(f"{path.relative_to(SRC)}:{n}: {line.strip()}")
    assert offenders == []
