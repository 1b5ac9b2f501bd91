"""--qfacts-batch-size: scores do not depend on the batching; bad values are usage errors."""
import pytest

from plugin_helpers import CPU, KEEP, LOSE, MODEL, onehop_relations, read_report, requires_tiny, suite_yaml, twohop_relations



def fact_ranks(report: dict) -> dict:
    return {run["recipe"]: [(f["relation"], f["subject"], f["object"], f["reference_rank"], f["quantized_rank"])
                            for f in run["facts"]]
            for run in report["runs"]}


@requires_tiny
def test_ranks_identical_for_batch_sizes_1_and_16(pytester):
    # prompts of different lengths; held-out two-hop relations hold facts the model gets wrong (ranks > 1)
    heldout = [r for r in twohop_relations() if r.endswith("_heldout")] or twohop_relations()
    relations = onehop_relations()[:2] + heldout[:2]
    pytester.makefile(".qfacts.yaml", small=suite_yaml(relations=relations, n=6, gate="{max_drop: 1.0}", known=False))
    ranks = {}
    for size in (1, 16):
        pytester.makepyfile(test_bs=f"def test_bs(qfacts_session):\n    assert qfacts_session.settings.batch_size == {size}\n")
        result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", f"--qfacts-batch-size={size}",
                                    f"--qfacts-report=bs{size}.json")
        result.assert_outcomes(passed=1 + 2 * len(relations))
        ranks[size] = fact_ranks(read_report(pytester.path / f"bs{size}.json"))
    assert set(ranks[1]) == {KEEP, LOSE}
    assert all(len(facts) == 24 for facts in ranks[1].values())
    assert ranks[1] == ranks[16]
    # the ranks are real ranks, not a constant 1: the comparison is not vacuous
    assert any(rank > 1 for facts in ranks[1].values() for fact in facts for rank in fact[3:])


def test_default_batch_size_is_16(pytester):
    pytester.makepyfile("def test_bs(qfacts_session):\n    assert qfacts_session.settings.batch_size == 16\n")
    pytester.runpytest().assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["0", "x", "-4", "1.5", " "])
def test_bad_batch_size_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--qfacts-batch-size={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --qfacts-batch-size: '{value}' is not a positive integer"])
