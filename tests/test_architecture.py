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
    return [
        p
        for p in SRC.rglob("*.py")
        if p.name not in SHELLS
        and not p.name.endswith("_cli.py")
        and not p.name.startswith("cli_")
        and "migrations" not in p.parts
    ]


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


# the text shells: the label catalogue and the phrase translator render stored text for a
# terminal user; `*_view.py` modules turn results into display tables
TEXT_SHELLS = {"labels.py", "i18n.py"}
FLAG = re.compile(r"(?<![\w-])--[a-z][a-z0-9-]*")


def _docstrings(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def _flag_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = _docstrings(tree)
    return [
        f"{path.relative_to(SRC)}:{node.lineno}: {FLAG.search(node.value)[0]}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and FLAG.search(node.value)
    ]


def test_no_domain_module_names_a_cli_flag():
    """Domain errors and results name the field (`as_of`, `limit`) in domain words; the CLI
    adds the flag to change when it prints (`careops.cliutil.FLAGS`). Docstrings may mention
    flags; string literals may not."""
    offenders = [
        hit
        for p in _domain_modules()
        if p.name not in TEXT_SHELLS and not p.name.endswith(("cli.py", "_view.py"))
        for hit in _flag_literals(p)
    ]
    assert offenders == []


CJK = re.compile(r"[\u4e00-\u9fff]")
#: packages whose errors reach users through the CLI and the API
USER_FACING = ("ingest", "segments", "experiments", "warehouse", "tags", "metrics")
#: not messages for users: programmer errors, and a record's data problem (field, reason),
#: which is stored with the record and rendered in the reader's language at display
NOT_USER_ERRORS = {"ValueError", "AssertionError", "TypeError", "KeyError", "RecordProblem"}


def _literal_text(node: ast.AST) -> str | None:
    """The literal text of a message, or None when part of it is computed by a call (such as
    `unknown_message(...)`, bilingual itself)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value for v in node.values if isinstance(v, ast.Constant))
    if isinstance(node, ast.BinOp):
        left, right = _literal_text(node.left), _literal_text(node.right)
        return None if left is None or right is None else left + right
    return None


def test_errors_of_the_user_facing_packages_say_it_in_chinese_too():
    """Every error message raised in these packages is "中文 / English": a literal message with
    no Chinese in it is an English-only error reaching a user whose language is Chinese."""
    offenders = []
    for package in USER_FACING:
        for path in sorted((SRC / package).rglob("*.py")):
            if path.name.endswith("cli.py"):
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                    continue
                name = getattr(node.exc.func, "id", getattr(node.exc.func, "attr", ""))
                if name in NOT_USER_ERRORS or not node.exc.args:
                    continue
                text = _literal_text(node.exc.args[0])
                if text is not None and not CJK.search(text):
                    offenders.append(f"{path.relative_to(SRC)}:{node.lineno}: {text[:60]!r}")
    assert offenders == []
