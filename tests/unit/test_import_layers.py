"""The import-linter contracts of pyproject.toml hold, and a deliberately wrong import breaks them."""
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _lint_imports(cwd: Path, pythonpath: Path) -> subprocess.CompletedProcess:
    lint = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    if lint is None:
        pytest.skip('import-linter is not installed (pip install -e ".[test]")')
    return subprocess.run([lint, "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env={"PYTHONPATH": str(pythonpath), "PATH": str(Path(sys.executable).parent)})


def test_the_layer_contracts_hold():
    result = _lint_imports(ROOT, ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 2 kept, 0 broken." in result.stdout


def test_a_metric_importing_the_session_breaks_the_contract(tmp_path):
    """A copy of the package whose metrics import the session (a lower layer calling back up)."""
    shutil.copytree(ROOT / "pytest_qfacts", tmp_path / "pytest_qfacts",
                    ignore=shutil.ignore_patterns("__pycache__", "*.safetensors", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    cka = tmp_path / "pytest_qfacts" / "metrics" / "cka.py"
    cka.write_text(cka.read_text() + "\n\ndef _back_up():\n    from pytest_qfacts.session import QFactsSession\n")
    result = _lint_imports(tmp_path, tmp_path)
    assert result.returncode == 1
    assert "Contracts: 0 kept, 2 broken." in result.stdout
    assert "pytest_qfacts.metrics is not allowed to import pytest_qfacts.session" in result.stdout
    assert "pytest_qfacts.metrics.cka -> pytest_qfacts.session" in result.stdout
