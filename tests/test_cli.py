"""The root `careops` command: domains load on demand, every command is listed and runs."""

from __future__ import annotations

import subprocess
import sys

from careops.cli import LAZY, load_command


def test_start_up_imports_no_domain():
    """`careops version` must not load Ibis, pandas or any domain module."""
    code = (
        "import sys; from careops.cli import main; sys.argv = ['careops', 'version']\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in {'ibis', 'pandas', "
        "'pyarrow', 'duckdb'} or m.startswith(('careops.tags', 'careops.metrics', "
        "'careops.ingest', 'careops.experiments', 'careops.sim')))\nprint(heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    assert out == ["0.1.0", "[]"]


def test_every_lazy_command_loads_and_lists_its_own_help():
    for name, (_, _, short) in LAZY.items():
        command = load_command(name)
        first = (command.help or "").strip().split("\n\n")[0].replace("\n", " ")
        assert command.name == name and first == short
        assert not any(p.name == "install_completion" for p in command.params)


def test_global_language_and_version():
    """`careops --lang en COMMAND` switches the command's default; `--version` answers."""
    run = [sys.executable, "-m", "careops"]
    zh = subprocess.run([*run, "metrics", "list"], capture_output=True, text=True, check=True)
    en = subprocess.run(
        [*run, "--lang", "en", "metrics", "list"], capture_output=True, text=True, check=True
    )
    assert "付费转化率" in zh.stdout and "Paid conversion" in en.stdout
    assert "付费转化率" not in en.stdout
    version = subprocess.run([*run, "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == "0.1.0"


def test_help_lists_every_command_in_its_panel(run_cli):
    code, out, _ = run_cli("--help")
    assert code == 0
    for name in [*LAZY, "version", "bench"]:
        assert f" {name} " in out
    assert "数据接入 / Data in" in out and "度量 / Measurement" in out


def test_unknown_command_is_an_error(run_cli):
    code, _, err = run_cli("tagz")
    assert code == 2 and "tagz" in err and "did you mean 'tags'" in err
