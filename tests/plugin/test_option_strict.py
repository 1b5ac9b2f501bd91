"""--qfacts-strict: a recipe whose quantization library is missing skips (reason + install command) by
default; with the flag (or ini qfacts_strict) it is an error. The missing library is simulated in this
process (pytester runs in-process): the hqq backend's ``requires`` names a module that does not exist,
or its import fails at quantize time."""
import pytest

from plugin_helpers import CPU, KEEP, MODEL, requires_tiny, suite_yaml

import pytest_qfacts.quant.hqq as hqq_module
from pytest_qfacts.quant.library_support import import_library

PAIR_TEST = """
def test_pair(qfacts_pair):
    assert len(qfacts_pair.compare("small.qfacts.yaml").items) > 0
"""
INSTALL = 'pip install "pytest-qfacts[[]hqq]"'  # as an fnmatch pattern: [[] is a literal [
RECIPES = f"--qfacts-quant={KEEP},hqq-w4g64"


@pytest.fixture
def hqq_not_installed(monkeypatch):
    monkeypatch.setattr(hqq_module.HQQBackend, "requires", ("hqq_not_installed_anywhere",))


@pytest.fixture
def hqq_import_fails(monkeypatch):
    """Installed (find_spec finds it) but broken: the import inside quantize() fails."""
    monkeypatch.setattr(hqq_module, "import_library", lambda backend, module: import_library(backend, "hqq_broken_build"))


def make_project(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(name="small", n=2, gate="{max_drop: 1.0}"))
    pytester.makepyfile(test_pair=PAIR_TEST)


@requires_tiny
def test_missing_library_skips_with_the_reason_and_the_install_command(pytester, hqq_not_installed):
    make_project(pytester)
    result = pytester.runpytest(MODEL, CPU, RECIPES, "-rs")
    result.assert_outcomes(passed=3, skipped=3)   # 2 YAML relations + 1 test, per recipe
    result.stdout.fnmatch_lines([f"SKIPPED *qfacts: cannot apply recipe 'hqq-w4g64': backend 'hqq' needs "
                                 f"hqq_not_installed_anywhere (not installed); install with: {INSTALL}*"])
    assert "hqq-w4g64" not in "\n".join(line for line in result.stdout.lines if "PASSED" in line)


@pytest.mark.parametrize("args, ini", [(["--qfacts-strict"], None), ([], "qfacts_strict = true")])
def test_strict_makes_a_missing_library_a_usage_error(pytester, hqq_not_installed, args, ini):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(test_pair=PAIR_TEST)
    result = pytester.runpytest(MODEL, CPU, RECIPES, *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*cannot apply recipe 'hqq-w4g64': backend 'hqq' needs hqq_not_installed_anywhere*{INSTALL}*"])


def test_strict_accepts_available_recipes(pytester):
    pytester.makepyfile("def test_flag(qfacts_session):\n    assert qfacts_session.settings.strict is True\n")
    pytester.runpytest("--qfacts-strict", "--qfacts-quant=rtn-w8g64").assert_outcomes(passed=1)


def test_strict_is_off_by_default_and_takes_no_value(pytester):
    pytester.makepyfile("def test_flag(qfacts_session):\n    assert qfacts_session.settings.strict is False\n")
    pytester.runpytest().assert_outcomes(passed=1)
    result = pytester.runpytest("--qfacts-strict=yes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR


@requires_tiny
@pytest.mark.parametrize("strict", [False, True])
def test_a_library_that_fails_to_import_skips_or_fails(pytester, hqq_import_fails, strict):
    make_project(pytester)
    result = pytester.runpytest(MODEL, CPU, RECIPES, "-rsf", *(["--qfacts-strict"] if strict else []))
    reason = "*cannot apply recipe 'hqq-w4g64': backend 'hqq' cannot import hqq_broken_build (ModuleNotFoundError*"
    if strict:
        result.assert_outcomes(passed=3, failed=2, errors=1)   # the fixture's failure is an error at setup
        result.stdout.fnmatch_lines([f"*qfacts (--qfacts-strict){reason}{INSTALL}*"])
    else:
        result.assert_outcomes(passed=3, skipped=3)
        result.stdout.fnmatch_lines([f"SKIPPED *qfacts{reason}{INSTALL}*"])
