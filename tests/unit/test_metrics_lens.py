"""Logit lens: gold probability and rank against hand-computed logits."""
import math

import numpy as np
import pytest

from pytest_qfacts.metrics import lens

# 6-token vocabulary over a 4-dim hidden space.
UNEMBED = np.array([
    [1, 0, 0, 0],
    [0, 1, 0, 0],
    [0, 0, 1, 0],
    [0, 0, 0, 1],
    [1, 1, 0, 0],
    [-1, 0, 0, 0],
], dtype=np.float32)
# hidden[layer, fact]
HIDDEN = np.array([
    [[2, 0, 1, 0], [0, 1, 0, 3]],
    [[0, 0, 0, 1], [1, 2, 0, 0]],
], dtype=np.float32)
GOLD = np.array([2, 4])
# Logits worked out by hand: z = UNEMBED @ h.
HAND_LOGITS = [
    [[2, 0, 1, 0, 2, -2], [0, 1, 0, 3, 1, 0]],
    [[0, 0, 0, 1, 0, 0], [1, 2, 0, 0, 3, -1]],
]
# l0 f0: gold z=1, beaten by z=2,2 -> 3.  l0 f1: gold z=1, beaten by 3 (tie with 1 does not count) -> 2.
# l1 f0: gold z=0, beaten by 1 -> 2.      l1 f1: gold z=3 is the max -> 1.
HAND_RANKS = [[3, 2], [2, 1]]


def _hand_prob(z, g):
    return math.exp(z[g]) / sum(math.exp(v) for v in z)


def test_ranks_and_probs_match_hand_computation():
    st = lens.logit_lens_gold(HIDDEN, UNEMBED, GOLD)
    assert st.rank.tolist() == HAND_RANKS
    assert st.rank.dtype == np.int64
    for l in range(2):
        for n in range(2):
            assert st.prob[l, n] == pytest.approx(_hand_prob(HAND_LOGITS[l][n], GOLD[n]), rel=1e-6)
            assert st.logit[l, n] == HAND_LOGITS[l][n][GOLD[n]]
    assert st.prob[0, 0] == pytest.approx(math.e / (2 * math.e**2 + math.e + 2 + math.exp(-2)), rel=1e-6)


def test_from_logits_agrees_with_hidden_path():
    a = lens.gold_stats_from_logits(np.array(HAND_LOGITS, dtype=np.float64), GOLD)
    b = lens.logit_lens_gold(HIDDEN, UNEMBED, GOLD)
    assert a.rank.tolist() == HAND_RANKS
    np.testing.assert_allclose(a.prob, b.prob, rtol=1e-6)
    one = lens.gold_stats_from_logits(np.array(HAND_LOGITS[1]), GOLD)  # [N, V]
    assert one.rank.tolist() == [HAND_RANKS[1]]


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(5, 7, 16)).astype(np.float32)
    W = rng.normal(size=(300, 16)).astype(np.float32)
    g = rng.integers(0, 300, size=7)
    full = lens.logit_lens_gold(h, W, g)
    tiny = lens.logit_lens_gold(h, W, g, chunk_bytes=1)  # one row at a time
    odd = lens.logit_lens_gold(h, W, g, chunk_bytes=300 * 4 * 3)  # 3 rows per chunk
    for other in (tiny, odd):
        np.testing.assert_array_equal(full.rank, other.rank)
        np.testing.assert_allclose(full.prob, other.prob, rtol=1e-5)  # float32 GEMM vs GEMV
    # Independent: float64 softmax and argsort-based rank.
    z = np.einsum("lnh,vh->lnv", h.astype(np.float64), W.astype(np.float64))
    p = np.exp(z - z.max(-1, keepdims=True))
    p /= p.sum(-1, keepdims=True)
    np.testing.assert_allclose(full.prob, p[:, np.arange(7), g], rtol=1e-4, atol=1e-7)
    order = np.argsort(-z, axis=-1)
    ref_rank = np.argmax(order == g[None, :, None], axis=-1) + 1
    np.testing.assert_array_equal(full.rank, ref_rank)


def test_bias_softcap_and_half_precision():
    bias = np.array([0, 0, 5, 0, 0, 0], dtype=np.float32)
    st = lens.logit_lens_gold(HIDDEN, UNEMBED, GOLD, bias=bias)
    assert st.rank[:, 0].tolist() == [1, 1]  # gold 2 boosted by 5
    capped = lens.logit_lens_gold(HIDDEN, UNEMBED, GOLD, softcap=2.0)
    assert capped.rank.tolist() == HAND_RANKS  # monotone: ranks unchanged
    z = 2.0 * np.tanh(np.array(HAND_LOGITS[0][0]) / 2.0)
    assert capped.prob[0, 0] == pytest.approx(np.exp(z[2]) / np.exp(z).sum(), rel=1e-6)
    half = lens.logit_lens_gold(HIDDEN.astype(np.float16), UNEMBED.astype(np.float16), GOLD)
    assert half.rank.tolist() == HAND_RANKS
    assert half.prob.dtype == np.float32


def test_median_rank_and_first_layer_in_topk():
    assert lens.median_rank_per_layer(np.array(HAND_RANKS)).tolist() == [2.5, 1.5]
    ranks = np.array([[5, 1, 9], [2, 1, 8], [1, 3, 7]])
    assert lens.first_layer_in_topk(ranks, 2).tolist() == [1, 0, -1]
    assert lens.first_layer_in_topk(ranks, 1).tolist() == [2, 0, -1]
    assert lens.first_layer_in_topk(ranks, 9).tolist() == [0, 0, 0]
    assert lens.lens_signal_fraction(ranks, 2) == pytest.approx(2 / 3)
    quant = np.array([[50, 1, 90], [20, 9, 80], [10, 30, 70]])
    assert lens.lens_signal_ratio(ranks, quant, 2) == pytest.approx((1 / 3) / (2 / 3))
    assert math.isnan(lens.lens_signal_ratio(quant + 100, ranks, 2))
    with pytest.raises(ValueError):
        lens.first_layer_in_topk(ranks, 0)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="gold"):
        lens.logit_lens_gold(HIDDEN, UNEMBED, np.array([0, 6]))
    with pytest.raises(ValueError, match="unembed"):
        lens.logit_lens_gold(HIDDEN, UNEMBED[:, :3], GOLD)
    with pytest.raises(ValueError, match="integer"):
        lens.logit_lens_gold(HIDDEN, UNEMBED, np.array([0.0, 1.0]))
