"""The examples/ folder is what a user writes: run it as the README's main command does."""
import json
import shutil
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
pytestmark = pytest.mark.slow


def test_readme_main_command_w8_keeps_and_w2_fails(pytester):
    from pytest_qfacts.errors import ModelNotFoundError
    from pytest_qfacts.models.registry import resolve_model

    try:
        resolve_model("smollm2-135m")
    except ModelNotFoundError as err:
        pytest.skip(str(err))
    for path in EXAMPLES.iterdir():
        if path.suffix in (".py", ".yaml"):
            shutil.copy(path, pytester.path / path.name)
    (pytester.path / "examples").mkdir()
    shutil.copy(EXAMPLES / "world.qfacts.yaml", pytester.path / "examples" / "world.qfacts.yaml")  # path used by test_capitals.py
    # a subprocess, as a user runs it (and so no in-process re-import of torch's submodules)
    result = pytester.runpytest_subprocess("-rfp", "--qfacts-model=smollm2-135m", "--qfacts-quant=rtn-w8g64,rtn-w2g64",
                                "--qfacts-report=report.json", "-p", "no:cacheprovider", "world.qfacts.yaml", "test_capitals.py")
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=5, failed=5)  # per recipe: 2 Python tests + 3 YAML relations
    passed = [line for line in result.stdout.lines if line.startswith("PASSED ")]
    failed = [line for line in result.stdout.lines if line.startswith("FAILED ")]
    assert len(passed) == 5 and all("[rtn-w8g64]" in line for line in passed)
    assert len(failed) == 5 and all("[rtn-w2g64]" in line for line in failed)
    runs = json.loads((pytester.path / "report.json").read_text())["runs"]
    for run in runs:
        if run["recipe"] == "rtn-w8g64":
            assert run["drop"] <= 0.02 and run["verdict"]["mode"] == "intact"
        else:
            assert run["quantized"]["top1"] < 0.1 and run["verdict"]["mode"] == "computation_collapse"
    result.stdout.fnmatch_lines(["*= qfacts summary =*", "smollm2-135m*rtn-w8g64*capitals*PASS", "smollm2-135m*rtn-w2g64*capitals*FAIL*"])
