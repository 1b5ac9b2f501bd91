"""--qfacts-report: the JSON schema, one run per (model, recipe, suite), no file without the option."""
import statistics

from plugin_helpers import CPU, KEEP, LOSE, MODEL, known_relations, read_report, requires_tiny, suite_yaml

PAIR_TEST = """
from pytest_qfacts.compare import Comparison

def test_small_again(qfacts_pair):
    # the collected YAML suite, compared again from a test: the same run, not a new one
    assert isinstance(qfacts_pair.compare("small.qfacts.yaml"), Comparison)

def test_other(qfacts_pair):
    assert qfacts_pair.compare("suites/other.yml").suite == "other"
"""

RUN_KEYS = {"model", "recipe", "suite", "n_facts", "reference", "quantized", "flipped", "mcnemar_p", "relations", "facts"}
FACT_KEYS = {"relation", "subject", "object", "reference_rank", "quantized_rank"}


def make_project(pytester):
    small, other = known_relations(5, 3)[:2], known_relations(5, 3)[2:]
    pytester.makefile(".qfacts.yaml", small=suite_yaml(name="small", relations=small, n=3, gate="{max_drop: 1.0}"))
    pytester.mkdir("suites")
    pytester.path.joinpath("suites", "other.yml").write_text(suite_yaml(name="other", relations=other, n=2))
    pytester.makepyfile(test_pair=PAIR_TEST)
    return {"small": list(small), "other": list(other)}


@requires_tiny
def test_report_schema_and_one_run_per_model_recipe_suite(pytester):
    expected_relations = make_project(pytester)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--qfacts-report=out/sub/qfacts.json")
    result.assert_outcomes(passed=8)   # 2 YAML relations x 2 recipes + 2 tests x 2 recipes
    result.stdout.fnmatch_lines(["qfacts: JSON report written to out/sub/qfacts.json"])
    report = read_report(pytester.path / "out" / "sub" / "qfacts.json")
    assert set(report) == {"qfacts_report", "complete", "runs"} and report["qfacts_report"] == 1 and report["complete"] is True
    runs = report["runs"]
    keys = [(run["model"], run["recipe"], run["suite"]) for run in runs]
    assert sorted(keys) == sorted((m, r, s) for m in ["tiny-facts"] for r in (KEEP, LOSE) for s in ("small", "other"))
    for run in runs:
        assert RUN_KEYS <= set(run), RUN_KEYS - set(run)
        facts = run["facts"]
        assert run["n_facts"] == len(facts) == {"small": 6, "other": 6}[run["suite"]]   # 2 x 3 and 3 x 2 facts
        assert [row["relation"] for row in run["relations"]] == expected_relations[run["suite"]]
        assert sum(row["n"] for row in run["relations"]) == run["n_facts"]
        for fact in facts:
            assert FACT_KEYS <= set(fact)
            assert isinstance(fact["reference_rank"], int) and fact["reference_rank"] >= 1
            assert isinstance(fact["quantized_rank"], int) and fact["quantized_rank"] >= 1
            assert fact["relation"] in expected_relations[run["suite"]]
            assert isinstance(fact["subject"], str) and isinstance(fact["object"], str)
        ref = [f["reference_rank"] for f in facts]
        quant = [f["quantized_rank"] for f in facts]
        # the summary numbers are those of the per-fact ranks
        assert run["reference"]["top1"] == sum(r == 1 for r in ref) / len(ref)
        assert run["quantized"]["top1"] == sum(q == 1 for q in quant) / len(quant)
        assert run["reference"]["median_rank"] == statistics.median(ref)
        assert run["quantized"]["median_rank"] == statistics.median(quant)
        assert run["flipped"]["lost"] == sum(r == 1 and q != 1 for r, q in zip(ref, quant))
        assert run["flipped"]["gained"] == sum(r != 1 and q == 1 for r, q in zip(ref, quant))
        assert 0.0 <= run["mcnemar_p"] <= 1.0
        if run["flipped"]["lost"] == run["flipped"]["gained"] == 0:
            assert run["mcnemar_p"] == 1.0
        for row in run["relations"]:
            rel_facts = [f for f in facts if f["relation"] == row["relation"]]
            assert row["n"] == len(rel_facts)
            assert row["lost"] == sum(f["reference_rank"] == 1 and f["quantized_rank"] != 1 for f in rel_facts)
        if run["recipe"] == KEEP:
            assert run["flipped"]["lost"] == 0
    # 8-bit RTN keeps the tiny-facts answers; the reference knows its facts
    assert all(run["reference"]["top1"] == 1.0 for run in runs)


@requires_tiny
def test_no_report_file_without_the_option(pytester):
    make_project(pytester)
    before = set(pytester.path.rglob("*"))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)
    assert "JSON report written" not in result.stdout.str()
    assert set(pytester.path.rglob("*")) - before == set()


def test_report_option_and_ini_are_read(pytester):
    pytester.makeini("[pytest]\nqfacts_report = from-ini.json\n")
    pytester.makepyfile(f"""
        def test_report(qfacts_session, request):
            expected = request.config.getoption("qfacts_report") or {str(pytester.path / "from-ini.json")!r}
            assert qfacts_session.settings.report == expected
    """)
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.runpytest("--qfacts-report=cli.json").assert_outcomes(passed=1)
