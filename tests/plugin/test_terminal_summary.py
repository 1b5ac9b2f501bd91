"""The "qfacts summary" table: one row per (model, recipe, suite) run; -q keeps it and silences progress."""
from plugin_helpers import CPU, KEEP, LOSE, MODEL, lossy_yaml, read_report, requires_tiny, summary_rows, suite_yaml

PAIR_TEST = """
def test_other(qfacts_pair):
    qfacts_pair.compare("suites/other.yml")
"""


def make_project(pytester, gate="{max_drop: 1.0}"):
    pytester.makefile(".qfacts.yaml", small=lossy_yaml(name="small", gate=gate))   # 2 relations, 1 of 4 facts lost
    pytester.mkdir("suites").joinpath("other.yml").write_text(suite_yaml(name="other", n=2))
    pytester.makepyfile(test_pair=PAIR_TEST)


@requires_tiny
def test_summary_has_one_row_per_run(pytester):
    make_project(pytester)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--qfacts-report=r.json")
    result.assert_outcomes(passed=6)
    result.stdout.fnmatch_lines(["*= qfacts summary =*",
                                 "model * recipe * suite * facts * ref top-1 * quant top-1 * drop * lost * gained * McNemar p * verdict * gate"])
    rows = [row.split() for row in summary_rows(result.stdout.lines)]
    assert sorted((r[0], r[1], r[2]) for r in rows) == sorted(
        ("tiny-facts", recipe, suite) for recipe in (KEEP, LOSE) for suite in ("small", "other"))
    report = {(run["recipe"], run["suite"]): run for run in read_report(pytester.path / "r.json")["runs"]}
    for model, recipe, suite, facts, ref, quant, drop, unit, lost, gained, p, verdict, gate in rows:
        run = report[(recipe, suite)]
        assert verdict == run["verdict"]["mode"] and (recipe != KEEP or verdict == "intact")
        assert int(facts) == run["n_facts"] and unit == "pt"
        assert (int(lost), int(gained)) == (run["flipped"]["lost"], run["flipped"]["gained"])
        assert ref == f"{run['reference']['top1']:.1%}" and quant == f"{run['quantized']['top1']:.1%}"
        assert gate == "PASS"
    assert any(int(r[8]) > 0 for r in rows if r[1] == LOSE)   # 2-bit RTN loses facts: the numbers are real


@requires_tiny
def test_summary_gate_column_counts_failures(pytester):
    make_project(pytester, gate="{max_drop: 0}")
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={LOSE}")
    failed = result.parseoutcomes().get("failed", 0)
    assert failed >= 1
    rows = {row.split()[2]: row for row in summary_rows(result.stdout.lines)}
    assert set(rows) == {"small", "other"}
    assert failed == 2 and rows["small"].endswith("FAIL (2 of 2)")
    assert rows["other"].endswith("PASS")


@requires_tiny
def test_quiet_keeps_the_table_and_silences_progress(pytester):
    make_project(pytester)
    loud = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}")
    assert any(line.startswith("qfacts: loading tiny-facts") for line in loud.stderr.lines)
    assert any(line.startswith("qfacts: quantizing tiny-facts with rtn-w8g64") for line in loud.stderr.lines)
    quiet = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "-q")
    quiet.assert_outcomes(passed=3)
    assert len(summary_rows(quiet.stdout.lines)) == len(summary_rows(loud.stdout.lines)) == 2
    assert not [line for line in quiet.stderr.lines + quiet.stdout.lines if line.startswith("qfacts: ")]


def test_no_table_without_runs(pytester):
    pytester.makefile(".qfacts.yaml", small="qfacts: 1\nname: s\nrelations:\n  - name: r\n    templates: [\"X {subject}\"]\n"
                                            "    facts: [{subject: A, object: B}]\n")
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64")
    result.assert_outcomes(skipped=1)
    assert "qfacts summary" not in result.stdout.str()
