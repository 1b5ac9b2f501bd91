"""Importing the plugin (and configuring it) imports neither torch, transformers nor numpy."""
import sys

from plugin_helpers import ONE_FACT_YAML

HEAVY = ("torch", "transformers", "numpy")


def imported_modules(stderr_lines: list[str]) -> list[str]:
    """Module names from ``python -X importtime`` output."""
    names = []
    for line in stderr_lines:
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name != "imported package":
                names.append(name)
    return names


def test_importtime_of_the_plugin_has_no_heavy_module(pytester):
    result = pytester.run(sys.executable, "-X", "importtime", "-c", "import pytest_qfacts.plugin")
    assert result.ret == 0
    names = imported_modules(result.stderr.lines)
    assert "pytest_qfacts.plugin" in names and "pytest_qfacts.errors" in names   # the parse works
    heavy = sorted({n for n in names if n.split(".")[0] in HEAVY})
    assert heavy == []


def test_configured_run_without_model_use_imports_no_heavy_module(pytester):
    """Options are parsed and validated, suites loaded and items collected without torch."""
    pytester.makefile(".qfacts.yaml", small=ONE_FACT_YAML)
    pytester.makepyfile(test_light=f"""
        import sys

        def test_nothing_heavy(qfacts_session, qfacts_suite):
            assert qfacts_suite("capitals").n_facts == 30
            heavy = sorted(m for m in sys.modules if m.split(".")[0] in {HEAVY!r})
            assert heavy == []
    """)
    result = pytester.runpytest_subprocess("--qfacts-model=qfacts-org/not-loaded", "--qfacts-quant=rtn-w8g64,rtn-w2g64",
                                           "--qfacts-suite=capitals", "--qfacts-device=cpu", "-p", "no:cacheprovider",
                                           "-k", "test_nothing_heavy")
    result.assert_outcomes(passed=1, deselected=4)
