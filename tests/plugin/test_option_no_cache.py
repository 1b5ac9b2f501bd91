"""--qfacts-no-cache (ini qfacts_no_cache): the on-disk cache of quantized models under <cache-dir>/quantized.

Without the flag a second identical run reads the quantized model from the cache instead of quantizing;
with it nothing is read or written.
"""

import pytest

from plugin_helpers import CPU, KEEP, MODEL, read_report, requires_tiny, suite_yaml

HIT = f"qfacts: {KEEP}: loaded from the quantized-model cache *(no quantization)"
STORED = f"qfacts: {KEEP}: quantized model stored in the cache: *"


def _entries(cache):
    root = cache / "quantized"
    return sorted(p.name for p in root.iterdir() if p.is_dir()) if root.exists() else []


def _project(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=2))


@requires_tiny
def test_a_second_run_reads_the_cache(pytester):
    _project(pytester)
    cache = pytester.path / "cache"
    args = (MODEL, CPU, f"--qfacts-quant={KEEP}", f"--qfacts-cache-dir={cache}", "--qfacts-report=r.json")
    first = pytester.runpytest(*args)
    first.assert_outcomes(passed=2)
    first.stderr.fnmatch_lines([STORED])
    assert not any("loaded from the quantized-model cache" in line for line in first.stderr.lines)
    (entry,) = _entries(cache)
    assert len(entry) == 24 and (cache / "quantized" / entry / "entry.json").is_file()
    assert {run["quant"]["info"]["cache"] for run in read_report(pytester.path / "r.json")["runs"]} == {"stored"}

    second = pytester.runpytest(*args)
    second.assert_outcomes(passed=2)
    second.stderr.fnmatch_lines([HIT])
    runs = read_report(pytester.path / "r.json")["runs"]
    assert {run["quant"]["info"]["cache"] for run in runs} == {"hit"}
    assert _entries(cache) == [entry]


@requires_tiny
def test_no_cache_neither_reads_nor_writes(pytester):
    _project(pytester)
    cache = pytester.path / "cache"
    args = [MODEL, CPU, f"--qfacts-quant={KEEP}", f"--qfacts-cache-dir={cache}", "--qfacts-report=r.json"]
    pytester.runpytest(*args).assert_outcomes(passed=2)   # fills the cache
    assert len(_entries(cache)) == 1
    args.append("--qfacts-no-cache")
    for _ in range(2):
        result = pytester.runpytest(*args)
        result.assert_outcomes(passed=2)
        result.stderr.fnmatch_lines([f"qfacts: quantizing tiny-facts with {KEEP} ..."])
        assert not any("quantized-model cache" in line or "stored in the cache" in line for line in result.stderr.lines)
        assert {run["quant"]["info"]["cache"] for run in read_report(pytester.path / "r.json")["runs"]} == {"off"}
    assert len(_entries(cache)) == 1


@pytest.mark.parametrize("args, ini, expected", [([], "", False), (["--qfacts-no-cache"], "", True),
                                                 ([], "qfacts_no_cache = true", True),
                                                 ([], "qfacts_no_cache = false", False)])
def test_no_cache_setting_from_command_line_and_ini(pytester, args, ini, expected):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(f"""
        def test_it(qfacts_session):
            assert qfacts_session.settings.no_cache is {expected}
            cache = qfacts_session.pool.quant_cache()
            assert (cache is None) is {expected}
            if cache is not None:  # <cache-dir>/quantized, the cache dir defaulting to QFACTS_CACHE_DIR
                import os
                assert str(cache.root) == os.path.join(os.environ["QFACTS_CACHE_DIR"], "quantized")
    """)
    pytester.runpytest(*args).assert_outcomes(passed=1)


def test_help_lists_the_flag(pytester):
    result = pytester.runpytest("--help")
    assert "--qfacts-no-cache" in result.stdout.str()
