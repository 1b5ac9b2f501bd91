"""Two-hop metrics (metrics/twohop.py) and the ``twohop`` report block, on hand-built arrays.

Each formula is checked against an independent computation (torch's log_softmax,
scipy's spearmanr / rankdata, explicit loops).
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from pytest_qfacts.compare.twohop_block import spearman_across_runs, twohop_block
from pytest_qfacts.metrics import entrec as m
from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.suites.twohop_suite import Composition, TwoHopItem, TwoHopSuite

torch = pytest.importorskip("torch")
scipy_stats = pytest.importorskip("scipy.stats")


def test_entrec_is_the_lens_log_prob_of_e2():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(3, 5, 11)) * 4  # [L, N, V]
    e2 = np.array([0, 3, 10, 7, 3])
    got = m.entrec(z, e2)
    expected = torch.log_softmax(torch.from_numpy(z), -1)[:, torch.arange(5), torch.from_numpy(e2)].numpy()
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert got.shape == (3, 5) and (got <= 0).all()
    # a token that dominates the logits is recalled (EntRec ~ 0); others are not
    z2 = np.zeros((1, 2, 4))
    z2[0, 0, 2] = 50.0
    assert m.entrec(z2, np.array([2, 2]))[0, 0] > -1e-9 and m.entrec(z2, np.array([2, 2]))[0, 1] == pytest.approx(-math.log(4))
    with pytest.raises(ValueError, match="items"):
        m.entrec(z, e2[:3])


def test_cnstscore_is_minus_the_mean_symmetric_cross_entropy():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(4, 9)) * 3, rng.normal(size=(4, 9)) * 3
    pa, pb = torch.softmax(torch.from_numpy(a), -1), torch.softmax(torch.from_numpy(b), -1)
    ce_ab = -(pa * torch.log(pb)).sum(-1)
    ce_ba = -(pb * torch.log(pa)).sum(-1)
    np.testing.assert_allclose(m.cross_entropy(a, b), ce_ab.numpy(), atol=1e-10)
    np.testing.assert_allclose(m.cnstscore(a, b), (-(ce_ab + ce_ba) / 2).numpy(), atol=1e-10)
    np.testing.assert_allclose(m.cnstscore(a, b), m.cnstscore(b, a))  # symmetric
    # identical distributions: CnstScore = -entropy, the largest value it can take for that distribution
    entropy = -(pa * torch.log(pa)).sum(-1).numpy()
    np.testing.assert_allclose(m.cnstscore(a, a), -entropy, atol=1e-10)
    assert (m.cnstscore(a, b) < m.cnstscore(a, a)).all()
    with pytest.raises(ValueError, match="shapes differ"):
        m.cnstscore(a, b[:, :3])


def test_average_ranks_match_scipy():
    rng = np.random.default_rng(2)
    for _ in range(20):
        x = rng.integers(0, 5, size=rng.integers(1, 12)).astype(float)  # many ties
        np.testing.assert_allclose(m.average_ranks(x), scipy_stats.rankdata(x, method="average"))


@pytest.mark.filterwarnings("ignore:An input array is constant")
def test_spearman_matches_scipy_with_and_without_ties():
    rng = np.random.default_rng(3)
    for trial in range(50):
        n = int(rng.integers(3, 15))
        x = rng.normal(size=n) if trial % 2 else rng.integers(0, 4, size=n).astype(float)
        y = x * rng.normal() + rng.normal(size=n) if trial % 3 else rng.integers(0, 3, size=n).astype(float)
        expected = scipy_stats.spearmanr(x, y).statistic
        if np.isnan(expected):
            assert math.isnan(m.spearman_rho(x, y))
        else:
            assert m.spearman_rho(x, y) == pytest.approx(expected, abs=1e-12)
            assert m.spearman(x, y) == pytest.approx(expected, abs=1e-12)
    assert m.spearman_rho([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert m.spearman_rho([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)


@pytest.mark.parametrize("x, y", [([1.0, 2.0], [2.0, 1.0]), ([1, 1, 1], [1, 2, 3]), ([1, 2, float("nan")], [1, 2, 3])])
def test_spearman_undefined_is_nan(x, y):
    assert math.isnan(m.spearman_rho(x, y)) and math.isnan(m.spearman(x, y))


def test_group_means_match_a_loop():
    rng = np.random.default_rng(4)
    values = rng.normal(size=(3, 7))
    groups = ["b", "a", "b", "c", "a", "b", "c"]
    labels, means = m.group_means(values, groups)
    assert labels == ["b", "a", "c"]
    for k, label in enumerate(labels):
        cols = [i for i, g in enumerate(groups) if g == label]
        np.testing.assert_allclose(means[k], values[:, cols].mean(1))
    labels1, means1 = m.group_means(values[0], groups)
    np.testing.assert_allclose(means1, means[:, 0])


# -- the report block ----------------------------------------------------------------


def _suite() -> TwoHopSuite:
    """Two compositions of 2 items each: the first hop of composition A breaks, B's holds."""
    def item(comp, e1, e2, e3):
        prompt = f"The answer of the thing of {e1} is"
        return TwoHopItem(comp, "r1", "r2", e1, e2, e3, f"{e1} has thing", f"The answer of {e2} is", prompt,
                          (prompt.index("the thing"), prompt.index(" is")))
    comps = [Composition("A", "r1", "r2", (item("A", "a1", "X", "p"), item("A", "a2", "Y", "q"))),
             Composition("B", "r1", "r2", (item("B", "b1", "X", "p"), item("B", "b2", "Z", "r")))]
    return TwoHopSuite.build("hand", comps)


def _scores(top1: list[bool]) -> FactScores:
    n = len(top1)
    t = np.array(top1)
    return FactScores(np.where(t, 1, 5), t, np.zeros(n), np.zeros(n), np.zeros((n, 2), np.int64),
                      np.zeros((n, 2), np.float32), [["x", "y"]] * n)


class _Trace:
    def __init__(self, entrec, cnst):
        self.entrec, self.cnstscore = np.asarray(entrec, float), np.asarray(cnst, float)


def test_twohop_block_pairs_the_three_prompts():
    suite = _suite()
    # items() order: A (2h a1, a2), A.r1_e1 (a1, a2), A.r2_e2, B, B.r1_e1, B.r2_e2
    assert [r.name for r in suite.relations] == ["A", "A.r1_e1", "A.r2_e2", "B", "B.r1_e1", "B.r2_e2"]
    ref = _scores([True] * 12)
    quant = _scores([False, True, False, False, True, True,   # A: 2h 1/2, r1 0/2, r2 2/2
                     True, True, True, True, True, False])    # B: 2h 2/2, r1 2/2, r2 1/2
    ref_trace = _Trace([[-1.0, -2.0, -1.0, -3.0], [-5.0, -5.0, -5.0, -5.0]], [-1.0, -1.0, -2.0, -2.0])
    quant_trace = _Trace([[-4.0, -6.0, -1.0, -3.0], [-5.0, -5.0, -5.0, -4.0]], [-3.0, -3.0, -2.0, -2.0])
    block = twohop_block(suite, ref, quant, ref_trace, quant_trace)
    assert block["n"] == 4
    assert block["r1_e1"] == {"reference": 1.0, "quantized": 0.5}
    assert block["r2_e2"] == {"reference": 1.0, "quantized": 0.75}
    assert block["r2_r1_e1"] == {"reference": 1.0, "quantized": 0.75}
    assert block["entrec"]["reference"] == [-1.75, -5.0] and block["entrec"]["quantized"] == [-3.5, -4.75]
    assert block["entrec"]["drop"] == [1.75, -0.25] and block["entrec"]["peak_layer"] == 0
    assert block["cnstscore"] == {"reference": -1.5, "quantized": -2.5}
    a, b = block["compositions"]
    assert a["composition"] == "A" and a["r1_e1"]["quantized"] == 0.0 and a["r2_r1_e1"]["quantized"] == 0.5
    assert a["entrec_peak"] == {"layer": 0, "reference": -1.5, "quantized": -5.0}
    assert b["r2_e2"]["quantized"] == 0.5 and b["cnstscore"] == {"reference": -2.0, "quantized": -2.0}
    assert block["spearman_first_hop"] is None  # two compositions: undefined
    bridges = {x["entity"]: x for x in block["bridges"]}
    assert bridges["X"]["n"] == 2 and bridges["X"]["entrec_reference"] == [-1.0, -5.0]
    assert bridges["X"]["entrec_quantized"] == [-2.5, -5.0] and bridges["Y"]["entrec_quantized"] == [-6.0, -5.0]


def test_spearman_across_runs_uses_every_composition_and_recipe():
    rows = lambda d1, d2: [{"r1_e1": {"reference": 1.0, "quantized": 1.0 - a}, "r2_r1_e1": {"reference": 1.0, "quantized": 1.0 - b}}
                           for a, b in zip(d1, d2)]  # noqa: E731
    blocks = {"w4": {"compositions": rows([0.1, 0.3], [0.0, 0.2])}, "w2": {"compositions": rows([0.9, 0.5], [0.8, 0.4])}}
    out = spearman_across_runs(blocks)
    assert out["points"] == 4 and out["recipes"] == ["w2", "w4"]
    assert out["rho"] == pytest.approx(scipy_stats.spearmanr([0.1, 0.3, 0.9, 0.5], [0.0, 0.2, 0.8, 0.4]).statistic)
