"""Logit lens: gold probability and rank against hand-computed logits.

The lens the pipeline runs (``trace.lens.lens_gold_stats``: the model's final norm and unembedding,
then ``metrics.lens.gold_stats_from_logits``) on a hand-built unembedding, and the metric on its own.
"""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from pytest_qfacts.metrics import lens


def runtime_lens(hidden, unembed, gold, *, bias=None, softcap=None, chunk_rows=256):
    """The pipeline's logit lens with no final norm and ``unembed`` [V, H] as the output embedding."""
    import torch

    from pytest_qfacts.trace.lens import lens_gold_stats

    V, H = unembed.shape
    linear = torch.nn.Linear(H, V, bias=bias is not None, dtype=torch.from_numpy(np.asarray(unembed)).dtype)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(np.asarray(unembed)))
        if bias is not None:
            linear.bias.copy_(torch.from_numpy(np.asarray(bias)))
    layout = SimpleNamespace(unembed=linear, final_norm=None, softcap=softcap)
    prob, rank = lens_gold_stats(layout, np.asarray(hidden, dtype=np.float32), np.asarray(gold), max_facts=0,
                                 chunk_rows=chunk_rows)
    return SimpleNamespace(prob=prob, rank=rank)

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
    st = runtime_lens(HIDDEN, UNEMBED, GOLD)
    assert st.rank.tolist() == HAND_RANKS
    assert st.rank.dtype == np.int64
    logits = lens.gold_stats_from_logits(np.array(HAND_LOGITS, dtype=np.float64), GOLD).logit
    for l in range(2):
        for n in range(2):
            assert st.prob[l, n] == pytest.approx(_hand_prob(HAND_LOGITS[l][n], GOLD[n]), rel=1e-6)
            assert logits[l, n] == HAND_LOGITS[l][n][GOLD[n]]
    assert st.prob[0, 0] == pytest.approx(math.e / (2 * math.e**2 + math.e + 2 + math.exp(-2)), rel=1e-6)


def test_from_logits_agrees_with_hidden_path():
    a = lens.gold_stats_from_logits(np.array(HAND_LOGITS, dtype=np.float64), GOLD)
    b = runtime_lens(HIDDEN, UNEMBED, GOLD)
    assert a.rank.tolist() == HAND_RANKS
    np.testing.assert_allclose(a.prob, b.prob, rtol=1e-6)
    one = lens.gold_stats_from_logits(np.array(HAND_LOGITS[1]), GOLD)  # [N, V]
    assert one.rank.tolist() == [HAND_RANKS[1]]


def test_chunking_does_not_change_results():
    rng = np.random.default_rng(0)
    h = rng.normal(size=(5, 7, 16)).astype(np.float32)
    W = rng.normal(size=(300, 16)).astype(np.float32)
    g = rng.integers(0, 300, size=7)
    full = runtime_lens(h, W, g)
    tiny = runtime_lens(h, W, g, chunk_rows=1)  # one row at a time
    odd = runtime_lens(h, W, g, chunk_rows=3)  # 3 rows per chunk
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
    st = runtime_lens(HIDDEN, UNEMBED, GOLD, bias=bias)
    assert st.rank[:, 0].tolist() == [1, 1]  # gold 2 boosted by 5
    capped = runtime_lens(HIDDEN, UNEMBED, GOLD, softcap=2.0)
    assert capped.rank.tolist() == HAND_RANKS  # monotone: ranks unchanged
    z = 2.0 * np.tanh(np.array(HAND_LOGITS[0][0]) / 2.0)
    assert capped.prob[0, 0] == pytest.approx(np.exp(z[2]) / np.exp(z).sum(), rel=1e-6)
    half = runtime_lens(HIDDEN, UNEMBED.astype(np.float16), GOLD)   # a half-precision unembedding
    assert half.rank.tolist() == HAND_RANKS


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
    logits = np.array(HAND_LOGITS, dtype=np.float64)
    with pytest.raises(ValueError, match="gold"):
        lens.gold_stats_from_logits(logits, np.array([0, 6]))
    with pytest.raises(ValueError, match="integer"):
        lens.gold_stats_from_logits(logits, np.array([0.0, 1.0]))
