"""compare(reference_run, quantized_run) is pure: two hand-built run records in, a Comparison out, no torch."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from pytest_qfacts.compare import compare
from pytest_qfacts.record import FactScores, ModelRun, RunInfo
from pytest_qfacts.suites.schema import FactItem

N, L, H, D, K = 6, 3, 8, 32, 4


def _scores(ranks):
    ranks = np.asarray(ranks)
    return FactScores(gold_rank=ranks, top1=ranks == 1, first_logprob=-np.log(ranks.astype(float) + 1),
                      object_logprob=-np.log(ranks.astype(float) + 1), topk_ids=np.zeros((len(ranks), 2), np.int64),
                      topk_logprobs=np.zeros((len(ranks), 2), np.float32), topk_tokens=[["a", "b"]] * len(ranks),
                      gold_first=np.arange(len(ranks)))


def _run(recipe, ranks, seed):
    rng = np.random.default_rng(seed)
    items = [FactItem("r1" if i < 3 else "r2", f"s{i}", f"o{i}", f"p{i} is") for i in range(N)]
    arrays = {"resid_last": rng.normal(size=(L, N, H)).astype(np.float32),
              "resid_subj": rng.normal(size=(L, N, H)).astype(np.float32),
              "gate_sign_subj": rng.choice([-1, 1], size=(L, N, D)).astype(np.int8),
              "inter_top_subj": np.stack([np.stack([rng.permutation(D)[:K] for _ in range(N)]) for _ in range(L)]),
              "mlp_out_subj": rng.normal(size=(L, N, H)).astype(np.float32),
              "lens.rank": rng.integers(1, 50, size=(L, N)), "lens.prob": rng.random((L, N))}
    info = RunInfo(model="m", suite="s", suite_hash="h" * 64, recipe=recipe, probes=("lens", "cka", "ffn"))
    return ModelRun(info, items, _scores(ranks), arrays)


def test_blocks_come_from_the_metrics_on_the_two_records():
    from pytest_qfacts.metrics import cka, ffn, verdict

    ref, quant = _run(None, [1, 1, 1, 1, 2, 1], 0), _run("rtn-w4g64", [1, 3, 1, 9, 2, 1], 1)
    result = compare(ref, quant)
    assert result.summary.reference_top1 == pytest.approx(5 / 6) and result.summary.quantized_top1 == pytest.approx(3 / 6)
    assert [r.relation for r in result.relations] == ["r1", "r2"] and result.relation("r1").lost == 1
    np.testing.assert_allclose(result.layers["cka_last_token"],
                               cka.cka_per_layer(ref.arrays["resid_last"], quant.arrays["resid_last"]))
    np.testing.assert_allclose(result.layers["gate_flip_rate"],
                               ffn.gate_sign_flip_rate(ref.arrays["gate_sign_subj"], quant.arrays["gate_sign_subj"]))
    # Jaccard of the top-k index sets, by Python sets
    expected = [np.mean([len(set(a) & set(b)) / len(set(a) | set(b)) for a, b in zip(r, q)])
                for r, q in zip(ref.arrays["inter_top_subj"], quant.arrays["inter_top_subj"])]
    np.testing.assert_allclose(result.layers["ffn_top1pct_jaccard"], expected)
    evidence = result.verdict["evidence"]
    assert evidence["accuracy_ratio"] == pytest.approx(3 / 5)
    assert result.verdict["mode"] == verdict.failure_mode(evidence)[0]
    assert result.block("lens")["topk"] == 10 and result.twohop is None
    assert result.subsets["failure"]["indices"] == [1, 3]


def test_runs_of_different_suites_are_refused():
    ref, quant = _run(None, [1] * N, 0), _run("x", [1] * N, 1)
    quant.info = RunInfo(model="m", suite="other", suite_hash="g" * 64, recipe="x")
    with pytest.raises(ValueError, match="runs of different suites"):
        compare(ref, quant)


def test_comparing_and_gating_records_imports_no_torch():
    code = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(__import__('pathlib').Path(__file__).parent)!r})
        from test_compare_runs import _run
        from pytest_qfacts.compare import compare
        from pytest_qfacts.gate import decide, rules
        c = compare(_run(None, [1, 1, 1, 1, 2, 1], 0), _run("q", [1, 3, 1, 9, 2, 1], 1))
        decide(c, rules({{"max_drop": 0.05}}))
        print(sorted(m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
