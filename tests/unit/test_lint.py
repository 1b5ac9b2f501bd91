"""The package is lint- and type-clean: ``ruff check pytest_qfacts`` (the rule set of pyproject.toml's
``[tool.ruff]``) and ``mypy`` (``[tool.mypy]``) exit 0. A deliberately bad file, checked with the same
configuration, makes each tool fail, so these tests can fail.

The tools run from the test interpreter's own bin folder (the project's virtual environment); where
one is missing the test is skipped with the command that installs it.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = ROOT / "pyproject.toml"
BIN = Path(sys.executable).parent
TIMEOUT_S = 600   # mypy over the package with no cache takes about 30 s of one core; ruff well under a second
INSTALL = 'pip install -e ".[test]"'
BAD_FILE = '''import os


def half(n: int) -> int:
    l = n  # E741 is ignored by the project's rule set: no finding here
    return l / 2
'''


def _tool(name: str) -> str:
    path = shutil.which(name, path=str(BIN))
    if path is None:
        pytest.skip(f"{name} is not installed in {BIN} ({INSTALL})")
    return path


def _run(args: list[str], cwd: Path) -> tuple[int, str]:
    result = subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=TIMEOUT_S)
    return result.returncode, result.stdout + result.stderr


def test_ruff_finds_nothing_in_the_package():
    rc, out = _run([_tool("ruff"), "check", "--no-fix", "--output-format", "concise", "pytest_qfacts"], ROOT)
    assert rc == 0, f"`ruff check pytest_qfacts` found problems (fix them, or `ruff check --fix FILE`):\n{out}"
    assert out.strip() == "All checks passed!"


def test_mypy_finds_nothing_in_the_package():
    rc, out = _run([_tool("mypy")], ROOT)
    assert rc == 0, f"`mypy` (files and options: [tool.mypy] of pyproject.toml) found problems:\n{out}"
    assert out.startswith("Success: no issues found in "), out


def test_ruff_fails_on_a_bad_file(tmp_path):
    (tmp_path / "bad.py").write_text(BAD_FILE)
    rc, out = _run([_tool("ruff"), "check", "--no-cache", "--no-fix", "--config", str(PYPROJECT), "--output-format",
                    "concise", "bad.py"], tmp_path)
    assert rc == 1, out
    assert out.splitlines()[0] == "bad.py:1:8: F401 [*] `os` imported but unused"
    assert "Found 1 error." in out


def test_mypy_fails_on_a_bad_file(tmp_path):
    (tmp_path / "bad.py").write_text(BAD_FILE)
    rc, out = _run([_tool("mypy"), "--config-file", str(PYPROJECT), "--cache-dir", str(tmp_path / "cache"), "bad.py"],
                   tmp_path)
    assert rc == 1, out
    assert out.splitlines()[0] == ('bad.py:6: error: Incompatible return value type (got "float", expected "int")  '
                                   "[return-value]")
    assert "Found 1 error in 1 file (checked 1 source file)" in out
