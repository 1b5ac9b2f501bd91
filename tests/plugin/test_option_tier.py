"""--qfacts-tier=smoke|full and --qfacts-smoke-facts: a deterministic, stratified sample per relation."""
import json

import pytest

from plugin_helpers import CPU, KEEP, MODEL, requires_tiny


def _report(pytester, *args):
    report = pytester.path / "r.json"
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-suite=tiny-facts-onehop",
                                "--qfacts-probes=none", f"--qfacts-report={report}", *args)
    assert result.ret == pytest.ExitCode.OK, result.stdout.lines[-20:]
    return json.loads(report.read_text())["runs"][0]


@requires_tiny
@pytest.mark.parametrize("args, per_relation", [((), None), (("--qfacts-tier=smoke",), 10),
                                                (("--qfacts-tier=smoke", "--qfacts-smoke-facts=3"), 3)])
def test_tier_samples_facts_per_relation(pytester, args, per_relation):
    from pytest_qfacts.suites import load_suite

    suite = load_suite("tiny-facts-onehop")
    run = _report(pytester, *args)
    expected = {r.name: len(r.facts) if per_relation is None else min(per_relation, len(r.facts)) for r in suite.relations}
    assert {row["relation"]: row["n"] for row in run["relations"]} == expected
    assert run["tier"] == ("full" if per_relation is None else "smoke")


@requires_tiny
def test_smoke_sample_is_the_same_twice(pytester):
    first = [(f["subject"], f["object"]) for f in _report(pytester, "--qfacts-tier=smoke")["facts"]]
    second = [(f["subject"], f["object"]) for f in _report(pytester, "--qfacts-tier=smoke")["facts"]]
    assert first == second and len(first) == 100


@pytest.mark.parametrize("args, message", [(["--qfacts-tier=quick"], "*--qfacts-tier: 'quick' is not a tier; accepted: smoke, full*"),
                                           (["--qfacts-smoke-facts=0"], "*--qfacts-smoke-facts: '0' is not a positive integer*")])
def test_bad_tier_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
