"""FFN key-value memory metrics against hand counts and set arithmetic."""
import math

import numpy as np
import pytest
from scipy.spatial.distance import cosine as scipy_cosine

from pytest_qfacts.metrics import ffn


def test_sign_flip_rate_by_hand_with_zeros():
    ref = np.array([[[1.0, -2.0, 0.0, 3.0], [0.0, 1.0, 1.0, 1.0]]])  # [L=1, N=2, D=4]
    quant = np.array([[[2.0, 2.0, 0.0, 0.0], [1.0, 1.0, 1.0, 1.0]]])
    # fact 0: -2 -> 2 flips, 3 -> 0 flips, 0 -> 0 does not: 2/4. fact 1: 0 -> 1 flips: 1/4.
    assert ffn.gate_sign_flip_rate(ref, quant).tolist() == [0.375]
    assert ffn.gate_sign_flip_rate(ref, quant, per_fact=True).tolist() == [[0.5, 0.25]]
    assert ffn.gate_sign_flip_rate(ref, ref).tolist() == [0.0]
    assert ffn.gate_sign_flip_rate(ref, -ref).tolist() == [pytest.approx((3 / 4 + 3 / 4) / 2)]
    # -0.0 and 0.0 have the same sign.
    assert ffn.gate_sign_flip_rate(np.zeros((1, 1, 3)), -np.zeros((1, 1, 3))).tolist() == [0.0]


def test_sign_flip_rate_layers_as_sequence():
    rng = np.random.default_rng(0)
    ref = [rng.normal(size=(5, 8)), rng.normal(size=(5, 8))]
    quant = [ref[0], -ref[1]]
    assert ffn.gate_sign_flip_rate(ref, quant).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("d,k", [(1, 1), (50, 1), (100, 1), (150, 2), (1500, 15), (1536, 16), (14336, 144)])
def test_topk_count(d, k):
    assert ffn.topk_count(d) == k


def test_jaccard_by_hand():
    D = 200  # k = 2
    ref = np.zeros((1, 2, D))
    quant = np.zeros((1, 2, D))
    ref[0, 0, [0, 1]] = [5.0, -4.0]          # top-2 by magnitude: {0, 1}
    quant[0, 0, [1, 5, 0]] = [-9.0, 8.0, 1.0]  # top-2: {1, 5}
    ref[0, 1, [3, 4]] = [1.0, 2.0]
    quant[0, 1, [3, 4]] = [2.0, 1.0]         # same set {3, 4}
    # fact 0: |{1}| / |{0, 1, 5}| = 1/3; fact 1: 1.
    np.testing.assert_allclose(ffn.topk_jaccard(ref, quant, per_fact=True), [[1 / 3, 1.0]])
    assert ffn.topk_jaccard(ref, quant)[0] == pytest.approx(2 / 3)


def test_jaccard_against_python_sets():
    rng = np.random.default_rng(1)
    L, N, D = 3, 6, 1000  # k = 10
    ref = rng.normal(size=(L, N, D))
    quant = ref + rng.normal(size=(L, N, D)) * np.array([0.0, 0.5, 5.0])[:, None, None]
    got = ffn.topk_jaccard(ref, quant, per_fact=True)
    for l in range(L):
        for n in range(N):
            a = set(np.argsort(-np.abs(ref[l, n]))[:10].tolist())
            b = set(np.argsort(-np.abs(quant[l, n]))[:10].tolist())
            assert got[l, n] == pytest.approx(len(a & b) / len(a | b))
    assert got[0].tolist() == [1.0] * N
    mean = ffn.topk_jaccard(ref, quant)
    assert mean[0] > mean[1] > mean[2]
    assert ffn.topk_jaccard(ref, quant, fraction=1.0).tolist() == [1.0, 1.0, 1.0]


def test_output_cosine():
    ref = np.array([[[1.0, 0.0], [0.0, 0.0], [0.0, 0.0], [3.0, 4.0]]])
    quant = np.array([[[1.0, 1.0], [0.0, 0.0], [2.0, 0.0], [-3.0, -4.0]]])
    got = ffn.output_cosine(ref, quant, per_fact=True)
    np.testing.assert_allclose(got, [[1 / math.sqrt(2), 1.0, 0.0, -1.0]])
    rng = np.random.default_rng(2)
    r, q = rng.normal(size=(2, 5, 7)), rng.normal(size=(2, 5, 7))
    expect = [[1 - scipy_cosine(r[l, n], q[l, n]) for n in range(5)] for l in range(2)]
    np.testing.assert_allclose(ffn.output_cosine(r, q, per_fact=True), expect, atol=1e-12)
    np.testing.assert_allclose(ffn.output_cosine(r, q), np.mean(expect, axis=1), atol=1e-12)


def test_shape_mismatch_raises():
    with pytest.raises(ValueError):
        ffn.gate_sign_flip_rate(np.zeros((2, 3, 4)), np.zeros((2, 3, 5)))
    with pytest.raises(ValueError):
        ffn.output_cosine(np.zeros((2, 3, 4)), np.zeros((3, 3, 4)))
