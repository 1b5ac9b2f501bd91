"""--qfacts-max-drop: the gate of suites without their own; a suite's gate wins; bad values are usage errors."""
import pytest

from plugin_helpers import CPU, LOSE, MODEL, lossy_yaml, read_report, requires_tiny

def run_gates(pytester, *args):
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={LOSE}", "--qfacts-report=r.json", "-rf", *args)
    rows = {row["relation"]: row for row in read_report(pytester.path / "r.json")["runs"][0]["relations"]}
    return result, rows


@requires_tiny
@pytest.mark.parametrize("max_drop", ["0", "0.2", "0.3", "1"])
def test_max_drop_is_the_gate_of_suites_without_one(pytester, max_drop):
    pytester.makefile(".qfacts.yaml", small=lossy_yaml(name="small"))   # rtn-w2g64: 1 of 4 facts lost per relation
    result, rows = run_gates(pytester, f"--qfacts-max-drop={max_drop}")
    drops = {name: row["reference_top1"] - row["quantized_top1"] for name, row in rows.items()}
    assert max(drops.values()) > 0, f"rtn-w2g64 should lose some of these facts: {drops}"
    failing = sorted(name for name, drop in drops.items() if drop > float(max_drop) + 1e-12)
    result.assert_outcomes(failed=len(failing), passed=len(drops) - len(failing))
    for name in failing:
        result.stdout.fnmatch_lines([f"  relation '{name}': drop 25.0% > max_drop {float(max_drop):.1%} "
                                     "(top-1 100.0% -> 75.0%, lost 1, gained 0, McNemar p=1)"])
        result.stdout.fnmatch_lines([f"FAILED small.qfacts.yaml::{name}[[]{LOSE}[]] - qfacts gate*"])
    assert sorted(drops.values()) == [0.25, 0.25]
    assert len(failing) == (2 if float(max_drop) < 0.25 else 0)


@requires_tiny
def test_suite_gate_wins_over_the_option(pytester):
    pytester.makefile(".qfacts.yaml", small=lossy_yaml(name="small", gate="{max_drop: 1.0}"))
    result, rows = run_gates(pytester, "--qfacts-max-drop=0")
    assert any(row["lost"] for row in rows.values())
    result.assert_outcomes(passed=2)


@pytest.mark.parametrize("args, ini, expected", [
    ([], None, 0.05),
    (["--qfacts-max-drop=0.125"], None, 0.125),
    ([], "qfacts_max_drop = 0.3", 0.3),
    (["--qfacts-max-drop=0"], "qfacts_max_drop = 0.3", 0.0),
])
def test_max_drop_setting(pytester, args, ini, expected):
    if ini:
        pytester.makeini(f"[pytest]\n{ini}\n")
    pytester.makepyfile(f"def test_it(qfacts_session):\n    assert qfacts_session.settings.max_drop == {expected!r}\n")
    pytester.runpytest(*args).assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["1.5", "-0.1", "five", "5%", "nan"])
def test_bad_max_drop_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--qfacts-max-drop={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --qfacts-max-drop: '{value}' is not a fraction between 0 and 1 (0.02 = 2 points)"])
