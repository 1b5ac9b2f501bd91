"""``*.qfacts.yaml`` files are collected: one gate item per relation x recipe."""
import pytest

from plugin_helpers import (CPU, KEEP, LOSE, MODEL, known_relations, lossy_relations, lossy_yaml, requires_tiny, suite_yaml,
                            w2_lost_facts)

WORLD = """
qfacts: 1
name: world
relations:
  - name: capital
    templates: ["The capital of {subject} is"]
    facts: [{subject: France, object: Paris}]
  - name: language
    templates: ["The language of {subject} is"]
    facts: [{subject: France, object: French}]
"""


def collected(result) -> list[str]:
    return [line for line in result.stdout.lines if "::" in line]


def test_yaml_files_collected_one_item_per_relation_and_recipe(pytester):
    pytester.makefile(".qfacts.yaml", world=WORLD)
    pytester.mkdir("sub").joinpath("more.qfacts.yaml").write_text(WORLD.replace("name: world", "name: more"))
    pytester.makefile(".yaml", plain=WORLD)          # not *.qfacts.yaml: ignored
    result = pytester.runpytest(f"--qfacts-quant={KEEP},{LOSE}", "--collect-only", "-q")
    assert sorted(collected(result)) == sorted(
        f"{path}::{rel}[{recipe}]" for path in ("world.qfacts.yaml", "sub/more.qfacts.yaml")
        for rel in ("capital", "language") for recipe in (KEEP, LOSE))
    result.stdout.fnmatch_lines(["8 tests collected*"])


def test_items_without_recipe_have_the_relation_as_id(pytester):
    pytester.makefile(".qfacts.yaml", world=WORLD)
    result = pytester.runpytest("--collect-only", "-q")
    assert collected(result) == ["world.qfacts.yaml::capital", "world.qfacts.yaml::language"]


def test_items_are_qfacts_marked(pytester):
    pytester.makefile(".qfacts.yaml", world=WORLD)
    pytester.makepyfile("def test_other(): pass")
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64", "-m", "qfacts", "--collect-only", "-q")
    assert collected(result) == ["world.qfacts.yaml::capital[rtn-w8g64]", "world.qfacts.yaml::language[rtn-w8g64]"]


def test_no_model_items_skip_with_reason(pytester):
    pytester.makefile(".qfacts.yaml", world=WORLD)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64", "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *: qfacts: no model configured (pass "
                                 "--qfacts-model=NAME or set qfacts_model in the ini file)"])


@requires_tiny
def test_no_recipe_items_skip_with_reason(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=1))
    result = pytester.runpytest(MODEL, CPU, "-rs")
    result.assert_outcomes(skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] *: qfacts: no quantization recipe configured*"])


@requires_tiny
def test_gate_passes_and_fails_with_lost_facts_listed(pytester):
    relations = lossy_relations()
    pytester.makefile(".qfacts.yaml", small=lossy_yaml(name="small", gate="{max_drop: 0}"))  # 1 of 4 facts lost by LOSE
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "-v", "-rf")
    outcomes = {line.split(" ")[0]: line.split(" ")[1] for line in result.stdout.lines
                if line.startswith("small.qfacts.yaml::") and " " in line}
    assert outcomes == {**{f"small.qfacts.yaml::{rel}[{KEEP}]": "PASSED" for rel in relations},
                        **{f"small.qfacts.yaml::{rel}[{LOSE}]": "FAILED" for rel in relations}}
    result.assert_outcomes(passed=2, failed=2)
    for relation in relations:
        subject, obj = w2_lost_facts(relation)[0]
        result.stdout.fnmatch_lines([
            f"*_ qfacts suite small::{relation} [[]{LOSE}[]] _*",
            f"qfacts gate failed: tiny-facts [[]{LOSE}[]] on suite 'small'",
            f"  relation '{relation}': drop 25.0% > max_drop 0.0% (top-1 100.0% -> 75.0%, lost 1, gained 0, McNemar p=1)",
            "lost facts (1 of 1; gold rank reference -> quantized):",
            f"  [[]{relation}[]] '*{subject}*' -> gold '{obj}': quantized says '*', rank 1 -> *",
        ])
    assert "Traceback" not in result.stdout.str() and "runtest" not in result.stdout.str()


@requires_tiny
def test_gate_min_accuracy_and_relative(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(relations=known_relations(1, 3), n=3,
                                                        gate="{max_drop: 0.5, relative: true, min_accuracy: 1.0}"))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("text, where", [
    ("qfacts: 1\nname: bad\nrelations:\n  - name: r\n    templates: [\"X {subject} is\"]\n    facts:\n"
     "      - {subject: A, object: B}\n      - {subject: C, objcet: D}\n",
     "bad.qfacts.yaml:8: field 'relations[[]0[]].facts[[]1[]].objcet': unknown key 'objcet'; did you mean 'object'?*"),
    ("qfacts: 1\nname: bad\nrelations:\n  - name: r\n    templates: [\"X is\"]\n    facts: [{subject: A, object: B}]\n",
     "bad.qfacts.yaml:5: field 'relations[[]0[]].templates[[]0[]]': template 'X is' does not contain {subject}*"),
    ("qfacts: 2\nname: bad\nrelations: []\n", "bad.qfacts.yaml:1: field 'qfacts': unsupported format version 2*"),
    ("qfacts: 1\nname: bad\nrelations: [\n", "bad.qfacts.yaml:4: YAML syntax error at line 4, column 1*"),
])
def test_malformed_yaml_is_a_collection_error_naming_file_line_field(pytester, text, where):
    pytester.path.joinpath("bad.qfacts.yaml").write_text(text)
    pytester.makefile(".qfacts.yaml", good=WORLD)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*ERROR collecting bad.qfacts.yaml*", f"qfacts: {pytester.path}/{where}",
                                 "ERROR bad.qfacts.yaml*", "*Interrupted: 1 error during collection*"])
    assert "Traceback" not in result.stdout.str()


def test_yaml_pattern_ini_changes_what_is_collected(pytester):
    pytester.makeini("[pytest]\nqfacts_yaml_pattern = *.facts.yml\n")
    pytester.makefile(".facts.yml", world=WORLD)
    pytester.makefile(".qfacts.yaml", ignored=WORLD)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64", "--collect-only", "-q")
    assert collected(result) == ["world.facts.yml::capital[rtn-w8g64]", "world.facts.yml::language[rtn-w8g64]"]
