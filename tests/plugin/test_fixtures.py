"""The fixtures: qfacts_session, qfacts_reference, qfacts_recipe/qfacts_quantized, qfacts_pair, qfacts_suite."""
import pytest

from plugin_helpers import (CPU, KEEP, LOSE, MODEL, clean_relation, known_relations, lossy_relations, lossy_yaml,
                            onehop_n_items, onehop_relations, requires_tiny, suite_yaml, w2_lost_facts)


@requires_tiny
def test_reference_loaded_once_per_run(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=2))
    pytester.makepyfile(test_a="""
        SEEN = []

        def test_one(qfacts_reference):
            SEEN.append(qfacts_reference)

        def test_two(qfacts_reference, qfacts_session):
            assert SEEN and SEEN[0] is qfacts_reference is qfacts_session.reference()

        def test_three(qfacts_pair, qfacts_reference):
            assert qfacts_pair.reference is qfacts_reference is SEEN[0]
    """, test_b="""
        def test_other_module(qfacts_reference, qfacts_session):
            assert qfacts_reference is qfacts_session.reference()
    """)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}")
    result.assert_outcomes(passed=2 + 2 + 1 + 4)   # test_three per recipe; the YAML suite: 2 relations x 2 recipes
    loads = [line for line in result.stderr.lines if line.startswith("qfacts: loading tiny-facts (reference")]
    assert len(loads) == 2, loads   # one "loading ..." line and its "done in" line
    assert loads[0] == "qfacts: loading tiny-facts (reference, device=cpu, dtype=auto) ..."
    assert loads[1].startswith("qfacts: loading tiny-facts (reference, device=cpu, dtype=auto): done in")


@requires_tiny
def test_each_recipe_quantized_once_with_yaml_and_python_tests(pytester):
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=2))
    pytester.makepyfile(test_a="""
        def test_plain(qfacts_reference):
            pass

        def test_pair(qfacts_pair):
            pass
    """)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}")
    result.assert_outcomes(passed=1 + 2 + 4)
    quantized = [line for line in result.stderr.lines if line.startswith("qfacts: quantizing") and line.endswith(" ...")]
    assert quantized == [f"qfacts: quantizing tiny-facts with {KEEP} ...", f"qfacts: quantizing tiny-facts with {LOSE} ..."]


@requires_tiny
def test_quantized_parametrized_per_recipe_and_built_once_per_recipe(pytester):
    pytester.makepyfile(test_q="""
        import pytest

        def test_first(qfacts_quantized, qfacts_recipe):
            assert qfacts_quantized.fingerprint.endswith(":" + qfacts_recipe)

        def test_second(qfacts_quantized, qfacts_session, qfacts_recipe):
            assert qfacts_session.quantized(qfacts_recipe)[0] is qfacts_quantized

        def test_params(request, qfacts_quantized, qfacts_recipe):
            assert request.node.callspec.params == {"qfacts_recipe": qfacts_recipe}
    """)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "-v")
    result.assert_outcomes(passed=6)
    ids = [line.split(" ")[0] for line in result.stdout.lines if line.startswith("test_q.py::")]
    assert sorted(ids) == sorted(f"test_q.py::{t}[{r}]" for t in ("test_first", "test_second", "test_params")
                                 for r in (KEEP, LOSE))
    for recipe in (KEEP, LOSE):
        starts = [line for line in result.stderr.lines if line == f"qfacts: quantizing tiny-facts with {recipe} ..."]
        assert len(starts) == 1, result.stderr.lines


def test_recipe_fixture_alone_is_parametrized(pytester):
    pytester.makepyfile(test_r="""
        def test_recipe(qfacts_recipe):
            assert qfacts_recipe in ("rtn-w8g64", "rtn-w2g64")
    """)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64,rtn-w2g64")
    result.assert_outcomes(passed=2)


@requires_tiny
def test_pair_compare_returns_a_comparison(pytester):
    pytester.mkdir("facts").joinpath("mine.yml").write_text(suite_yaml(name="mine", n=3))
    pytester.makepyfile(test_pair="""
        from pytest_qfacts.compare import Comparison
        from pytest_qfacts.pair import ModelPair
        from pytest_qfacts.suites import load_suite

        def test_compare(qfacts_pair, qfacts_recipe):
            assert isinstance(qfacts_pair, ModelPair) and qfacts_pair.recipe == qfacts_recipe
            by_path = qfacts_pair.compare("facts/mine.yml")
            assert isinstance(by_path, Comparison)
            assert (by_path.model, by_path.recipe, by_path.suite) == ("tiny-facts", qfacts_recipe, "mine")
            assert by_path.summary.n == 6 and [r.relation for r in by_path.relations] == {relations}
            assert by_path.summary.reference_top1 == 1.0
            assert qfacts_pair.compare(load_suite("facts/mine.yml")) is by_path     # cached per suite
            by_name = qfacts_pair.compare("tiny-facts-onehop")
            assert isinstance(by_name, Comparison) and by_name.suite == "tiny-facts-onehop"
            assert by_name.summary.n == {n} and len(by_name.relations) == {n_relations}
    """.replace("{n}", str(onehop_n_items())).replace("{n_relations}", str(len(onehop_relations())))
       .replace("{relations}", repr(list(known_relations(2, 3)))))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}")
    result.assert_outcomes(passed=1)


def test_suite_fixture_loads_builtins_and_paths(pytester):
    pytester.makefile(".yml", mine="qfacts: 1\nname: mine\nrelations:\n  - name: r\n    templates: [\"X {subject} is\"]\n"
                                   "    facts: [{subject: A, object: B}, {subject: C, object: D}]\n")
    pytester.makepyfile(test_suite="""
        import pytest
        from pytest_qfacts.errors import SuiteError
        from pytest_qfacts.suites import Suite

        def test_builtin(qfacts_suite):
            capitals = qfacts_suite("capitals")
            assert isinstance(capitals, Suite) and capitals.name == "capitals" and capitals.n_facts == 30
            lre = qfacts_suite("lre-country_currency")
            assert lre.name == "lre-country_currency" and lre.n_facts == 30

        def test_path(qfacts_suite):
            mine = qfacts_suite("mine.yml")
            assert mine.name == "mine" and [i.prompt for i in mine.items()] == ["X A is", "X C is"]

        def test_unknown(qfacts_suite):
            with pytest.raises(SuiteError, match="unknown suite 'capitalz'; did you mean 'capitals'"):
                qfacts_suite("capitalz")
    """)
    pytester.runpytest().assert_outcomes(passed=3)


@requires_tiny
def test_assert_recall_retained_failure_lists_worst_relations_and_lost_facts(pytester):
    clean = clean_relation()
    pytester.makefile(".yml", lossy=lossy_yaml(clean=(clean,)))  # 3 relations, 4 facts each
    pytester.makepyfile(test_gate="""
        from pytest_qfacts import assert_recall_retained

        def test_gate(qfacts_pair):
            assert_recall_retained(qfacts_pair.compare("lossy.yml"), max_drop=0.0)
    """)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "-rf")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([f"FAILED test_gate.py::test_gate[[]{LOSE}[]] - pytest_qfacts.assertions.Recall*"])
    result.stdout.fnmatch_lines([
        f"E *pytest_qfacts.assertions.RecallGateFailure: qfacts gate failed: tiny-facts [[]{LOSE}[]] on suite 'lossy'",
        "E *  suite: drop 16.7% > max_drop 0.0% (top-1 100.0% -> 83.3%, lost 2, gained 0, McNemar p=0.5)",
        "E *worst relations (reference -> quantized top-1):",
        *(f"E *  {rel}: 100.0% -> 75.0% (drop +25.0%, lost 1/4)" for rel in lossy_relations()),
        f"E *  {clean}: 100.0% -> 100.0% (drop +0.0%, lost 0/4)",
        "E *lost facts (2 of 2; gold rank reference -> quantized):",
        *(f"E *  [[]{rel}[]] '*{w2_lost_facts(rel)[0][0]}*' -> gold '{w2_lost_facts(rel)[0][1]}': quantized says '*', rank 1 -> *"
          for rel in lossy_relations()),
    ])
    # the worst relation comes first
    text = result.stdout.lines
    start = next(i for i, line in enumerate(text) if line.endswith("worst relations (reference -> quantized top-1):"))
    assert text[start + 3].endswith(f"{clean}: 100.0% -> 100.0% (drop +0.0%, lost 0/4)")
