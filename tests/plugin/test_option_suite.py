"""--qfacts-suite: built-in names and YAML paths become gate items, even in a project with no test files."""
import re

import pytest

from plugin_helpers import (CPU, KEEP, LOSE, MODEL, known_relations, onehop_n_items, onehop_relations, read_report,
                            requires_tiny, suite_yaml)

# (the items of a --qfacts-suite hang off the session, so today their node ids start with "::")
OUTCOME = re.compile(r"^(?:::)?(qfacts-suite:\S+::\S+) (PASSED|FAILED|SKIPPED|ERROR)")


def item_outcomes(result) -> dict[str, str]:
    return {m[1]: m[2] for line in result.stdout.lines if (m := OUTCOME.match(line))}


def item_ids(result) -> list[str]:
    return [line.removeprefix("::") for line in result.stdout.lines if "qfacts-suite:" in line and "::" in line]


@requires_tiny
def test_builtin_suite_runs_without_test_files_and_gates_right(pytester):
    assert not list(pytester.path.iterdir())
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--qfacts-suite=tiny-facts-onehop",
                                "--qfacts-report=report.json", "-v", "-p", "no:cacheprovider")
    relations = onehop_relations()
    outcomes = item_outcomes(result)
    assert set(outcomes) == {f"qfacts-suite:tiny-facts-onehop::{rel}[{recipe}]"
                             for rel in relations for recipe in (KEEP, LOSE)}
    # each item applies the suite's own gate (max_drop 0.05) to its relation, as the report's numbers say
    runs = {run["recipe"]: run for run in read_report(pytester.path / "report.json")["runs"]}
    assert set(runs) == {KEEP, LOSE} and {run["suite"] for run in runs.values()} == {"tiny-facts-onehop"}
    expected = {}
    for recipe, run in runs.items():
        assert run["n_facts"] == onehop_n_items()
        for row in run["relations"]:
            drop = row["reference_top1"] - row["quantized_top1"]
            expected[f"qfacts-suite:tiny-facts-onehop::{row['relation']}[{recipe}]"] = "FAILED" if drop > 0.05 else "PASSED"
    assert outcomes == expected
    assert all(outcomes[f"qfacts-suite:tiny-facts-onehop::{rel}[{KEEP}]"] == "PASSED" for rel in relations)
    n_failed = sum(v == "FAILED" for v in outcomes.values())
    result.assert_outcomes(passed=2 * len(relations) - n_failed, failed=n_failed)
    assert result.ret == (pytest.ExitCode.TESTS_FAILED if n_failed else pytest.ExitCode.OK)


@requires_tiny
def test_yaml_path_and_builtin_name_together(pytester):
    pytester.mkdir("facts")
    pytester.path.joinpath("facts", "mine.yml").write_text(suite_yaml(name="mine", n=2))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-suite=facts/mine.yml, capitals",
                                "--collect-only", "-q")
    first, second = known_relations(2, 2)
    assert item_ids(result) == [f"qfacts-suite:mine::{first}[rtn-w8g64]", f"qfacts-suite:mine::{second}[rtn-w8g64]",
                                "qfacts-suite:capitals::country_capital[rtn-w8g64]"]
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-suite=facts/mine.yml")
    result.assert_outcomes(passed=2)


def test_suite_items_skip_without_model(pytester):
    result = pytester.runpytest("--qfacts-suite=capitals", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["SKIPPED [[]1] *qfacts: no model configured*"])


@pytest.mark.parametrize("value, expected", [
    pytest.param("tiny-facts-onehopp", "ERROR: unknown suite 'tiny-facts-onehopp'; did you mean 'tiny-facts-onehop'? "
                 "built-in suites: capitals, lre-city_in_country, *, tiny-facts-onehop, tiny-facts-twohop. A path "
                 "to a .qfacts.yaml file (or an LRE .json file) is also accepted", marks=requires_tiny),
    ("capitalz", "ERROR: unknown suite 'capitalz'; did you mean 'capitals'? built-in suites: capitals, lre-*"),
    ("nosuch", "ERROR: unknown suite 'nosuch'; built-in suites: capitals, *"),
    ("facts/missing.qfacts.yaml", "ERROR: facts/missing.qfacts.yaml: suite file not found*"),
])
def test_unknown_suite_is_a_usage_error_listing_builtins(pytester, value, expected):
    result = pytester.runpytest(f"--qfacts-suite={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([expected])


def test_malformed_suite_file_is_a_usage_error_naming_file_line_and_field(pytester):
    pytester.path.joinpath("bad.yml").write_text(
        "qfacts: 1\nname: bad\nrelations:\n  - name: r\n    templates: [\"X {subject} is\"]\n"
        "    facts:\n      - {subject: A, objcet: B}\n")
    result = pytester.runpytest("--qfacts-suite=bad.yml")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: bad.yml:7: field 'relations[[]0[]].facts[[]0[]].objcet': unknown key 'objcet'*"])
