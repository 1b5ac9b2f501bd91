"""--qfacts-quant: recipes become test ids; bad, duplicate and inapplicable recipes are reported."""
import json
import math

import pytest

from plugin_helpers import (CPU, KEEP, LOSE, MODEL, ONE_FACT_YAML, TINY_DIR, known_relations, requires_tiny,
                            suite_yaml)

TESTS = """
def test_x(qfacts_quantized, qfacts_recipe):
    assert qfacts_recipe in ("rtn-w8g64", "rtn-w2g64")

def test_pair(qfacts_pair):
    pass

def test_plain():
    pass
"""


def collected_ids(result) -> set[str]:
    return {line for line in result.stdout.lines if "::" in line}


def test_comma_separated_recipes_become_test_ids(pytester):
    pytester.makepyfile(test_q=TESTS)
    result = pytester.runpytest("--qfacts-quant= rtn-w8g64 , RTN-W2G64", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.OK
    assert collected_ids(result) == {
        "test_q.py::test_x[rtn-w8g64]", "test_q.py::test_x[rtn-w2g64]",
        "test_q.py::test_pair[rtn-w8g64]", "test_q.py::test_pair[rtn-w2g64]",
        "test_q.py::test_plain",
    }


def test_recipes_order_is_kept_in_yaml_item_ids(pytester):
    pytester.makefile(".qfacts.yaml", small=ONE_FACT_YAML)
    result = pytester.runpytest("--qfacts-quant=rtn-w4g128-sym,rtn-w8g64", "--collect-only", "-q")
    assert [line for line in result.stdout.lines if "::" in line] == [
        "small.qfacts.yaml::capital[rtn-w4g128-sym]", "small.qfacts.yaml::capital[rtn-w8g64]"]


def test_no_recipe_skips_quantized_tests_with_reason(pytester):
    pytester.makepyfile(test_q=TESTS)
    result = pytester.runpytest("-rs")
    result.assert_outcomes(passed=1, skipped=2)
    result.stdout.fnmatch_lines(["SKIPPED [[]2[]] test_q.py: qfacts: no quantization recipe configured (pass --qfacts-quant=RECIPE[[],RECIPE[]])"])
    ids = collected_ids(pytester.runpytest("--collect-only", "-q"))
    assert {"test_q.py::test_x[no-recipe]", "test_q.py::test_pair[no-recipe]"} <= ids


@pytest.mark.parametrize("value, expected", [
    ("zzq-w4", ["ERROR: unknown quantization recipe 'zzq-w4'*", "recipe grammars:", "  rtn-w{2..8}g{N}[[]-sym[]]  (*",
                "  gptq-w{2,3,4,8}g{N}*"]),
    ("gptq-w4", ["ERROR: malformed gptq recipe 'gptq-w4'; accepted: gptq-w{2,3,4,8}g{N}*e.g. gptq-w4g128"]),
    ("rnt-w4g64", ["ERROR: unknown quantization recipe 'rnt-w4g64'; did you mean 'rtn-w4g64'?", "recipe grammars:"]),
    ("rtn-w9g64", ["ERROR: rtn recipe 'rtn-w9g64': bits must be 2..8, got 9; accepted: rtn-w{2..8}g{N}[[]-sym[]]"]),
    ("rtn-w4", ["ERROR: malformed rtn recipe 'rtn-w4'; accepted: rtn-w{2..8}g{N}[[]-sym[]]*"]),
    ("rtn-w8g64,,rtn-w4g64", ["ERROR: empty recipe (item 2) in recipe list*"]),
])
def test_bad_recipe_is_a_usage_error_with_the_grammar(pytester, value, expected):
    pytester.makepyfile(test_q=TESTS)
    result = pytester.runpytest(f"--qfacts-quant={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(expected)
    assert "Traceback" not in result.stderr.str()


@pytest.mark.parametrize("value", ["rtn-w8g64,rtn-w8g64", "rtn-w8g64, RTN-W8G64", "rtn-w4g64,rtn-w8g64,rtn-w4g64"])
def test_duplicate_recipes_are_rejected(pytester, value):
    pytester.makepyfile(test_q=TESTS)
    result = pytester.runpytest(f"--qfacts-quant={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: recipe '*' is listed more than once in the recipe list*; list each recipe once"])


def test_duplicate_recipes_are_rejected_after_canonicalization(pytester):
    pytester.makepyfile(test_q=TESTS)
    result = pytester.runpytest("--qfacts-quant=rtn-w8g64,rtn-w8g064", "--collect-only", "-q")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.lines


@requires_tiny
def test_group_size_that_does_not_divide_the_layers_fails_with_the_valid_sizes(pytester):
    config = json.loads((TINY_DIR / "config.json").read_text())
    hidden, intermediate = config["hidden_size"], config["intermediate_size"]
    attn = config["num_attention_heads"] * config.get("head_dim", hidden // config["num_attention_heads"])
    assert hidden % 100, "tiny-facts' hidden size must not be a multiple of 100 for this test"
    gcd = math.gcd(hidden, intermediate, attn)
    valid = ", ".join(str(d) for d in range(1, gcd + 1) if gcd % d == 0)
    n_layers = 7 * config["num_hidden_layers"]    # q, k, v, o, gate, up, down per layer (lm_head is kept)
    relation = known_relations(1, 2)[0]
    pytester.makepyfile(test_q="def test_x(qfacts_quantized):\n    raise AssertionError('quantized?!')\n")
    pytester.makefile(".qfacts.yaml", small=suite_yaml(relations=(relation,), n=2))
    result = pytester.runpytest(MODEL, CPU, "--qfacts-quant=rtn-w4g100")
    result.assert_outcomes(errors=1, failed=1)   # the fixture's setup; the gate item of the YAML suite
    message = (f"recipe 'rtn-w4g100': module 'model.layers.0.self_attn.q_proj' has in_features={hidden}, which group "
               "size 100 does not divide (the group size must divide the in_features of every quantized layer); group "
               f"sizes that divide all {n_layers} quantized layers: {valid}")
    result.stdout.fnmatch_lines([f"qfacts: {message}"])   # the fixture's error: the message, no traceback
    assert "RecipeError" not in result.stdout.str()
    # a gate item shows the message itself, without a traceback
    result.stdout.fnmatch_lines([f"*_ qfacts suite small::{relation} [[]rtn-w4g100[]] _*", message])
    assert "quantized?!" not in result.stdout.str()


@requires_tiny
def test_each_recipe_quantizes_its_own_model(pytester):
    pytester.makepyfile(test_q="""
        import torch

        def test_weights(qfacts_reference, qfacts_quantized, qfacts_recipe):
            assert qfacts_quantized.fingerprint == qfacts_reference.fingerprint + ":" + qfacts_recipe
            ref = dict(qfacts_reference.model.named_parameters())
            quant = dict(qfacts_quantized.model.named_parameters())
            q_proj = "model.layers.0.self_attn.q_proj.weight"
            levels = torch.unique(quant[q_proj][0, :64]).numel()
            assert levels <= (4 if qfacts_recipe == "rtn-w2g64" else 256)
            assert not torch.equal(ref[q_proj], quant[q_proj])
            assert torch.equal(ref["lm_head.weight"], quant["lm_head.weight"])  # lm_head is kept
    """)
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "-v")
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*test_weights[[]rtn-w8g64[]] PASSED*", "*test_weights[[]rtn-w2g64[]] PASSED*"])
