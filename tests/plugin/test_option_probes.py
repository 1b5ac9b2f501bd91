"""--qfacts-probes: which mechanistic probes run with every comparison (default: what the verdict needs)."""
import json

import pytest

from plugin_helpers import CPU, KEEP, LOSE, MODEL, requires_tiny, suite_yaml

# small.yaml does not match *.qfacts.yaml: only the test below uses it
PAIR_TEST = """
def test_pair(qfacts_pair, qfacts_suite):
    qfacts_pair.compare(qfacts_suite("small.yaml"))
"""


def _runs(pytester, *args):
    (pytester.path / "small.yaml").write_text(suite_yaml(n=3))
    pytester.makepyfile(test_p=PAIR_TEST)
    report = pytester.path / "r.json"
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", f"--qfacts-report={report}", *args)
    result.assert_outcomes(passed=2)
    return json.loads(report.read_text())["runs"]


@requires_tiny
def test_default_probes_give_every_run_a_verdict_and_cka(pytester):
    runs = _runs(pytester)
    assert len(runs) == 2 and all(run["probes"] == ["lens", "cka", "ffn"] for run in runs)
    assert {run["recipe"]: run["verdict"]["mode"] for run in runs}[KEEP] == "intact"
    assert all(len(run["layers"]["cka_last_token"]) == 2 for run in runs)
    assert "neurons" not in runs[0]


@requires_tiny
def test_none_is_a_plain_recall_gate(pytester):
    runs = _runs(pytester, "--qfacts-probes=none")
    assert runs and all("verdict" not in run and "layers" not in run and run["probes"] == [] for run in runs)


@requires_tiny
def test_all_adds_neurons_attention_and_svd(pytester):
    run = _runs(pytester, "--qfacts-probes=all")[0]
    assert {"tau", "retained", "reference_count"} <= set(run["neurons"])
    assert {"attention_entropy_reference", "attention_jsd", "svd_subspace_similarity", "cka_matrix_subject",
            "ffn_contribution_drop", "attn_contribution_drop"} <= set(run["layers"])
    assert "patching" not in run  # extra forwards: only when named


@requires_tiny
def test_probes_chosen_per_test(pytester):
    (pytester.path / "small.yaml").write_text(suite_yaml(n=3))
    pytester.makepyfile(test_p="""
        def test_pair(qfacts_pair, qfacts_suite):
            result = qfacts_pair.compare(qfacts_suite("small.yaml"), probes=["cka", "patching"])
            assert result.extras["probes"] == ["cka", "patching"]
            assert "cka_last_token" in result.extras["layers"] and "lens_rank_reference" not in result.extras["layers"]
            assert result.extras["patching"]["forwards"] > 0
    """)
    pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-probes=lens").assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["bogus", "lens,nope"])
def test_unknown_probe_is_a_usage_error(pytester, value):
    result = pytester.runpytest(f"--qfacts-probes={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--qfacts-probes: unknown probe(s)*accepted: default, all, none, or any of "
                                 "lens, cka, ffn, attention, svd, neurons, patching*"])


@requires_tiny
@pytest.mark.parametrize("value", [None, "2", "0"])
def test_lens_facts_bounds_the_logit_lens(pytester, value):
    args = [f"--qfacts-lens-facts={value}"] if value else []
    runs = _runs(pytester, *args)
    for run in runs:  # the small suite has fewer than 32 facts: the default and 0 cover them all
        assert run["lens"]["facts"] == (2 if value == "2" else run["n_facts"]) and run["n_facts"] > 2


def test_lens_facts_must_be_a_count(pytester):
    result = pytester.runpytest("--qfacts-lens-facts=-3")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--qfacts-lens-facts: '-3' is not a positive integer*"])
