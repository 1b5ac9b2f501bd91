"""Attention entropy and JSD against hand values and scipy's jensenshannon."""
import math

import numpy as np
import pytest
from scipy.spatial.distance import jensenshannon

from pytest_qfacts.metrics import attention as att


def test_entropy_by_hand_with_left_padding():
    mask = np.array([[False, True, True, True]])  # one pad key, j = 3
    attn = np.array([[
        [0.0, 0.5, 0.25, 0.25],   # H = 1.5 ln 2
        [0.0, 1 / 3, 1 / 3, 1 / 3],  # uniform -> 1
        [0.0, 0.0, 0.0, 1.0],     # one-hot -> 0
    ]])
    h1 = 1.5 * math.log(2) / math.log(3)
    per = att.normalized_attention_entropy(attn, mask, per_fact=True)
    assert per.shape == (1,)
    assert per[0] == pytest.approx((h1 + 1.0 + 0.0) / 3)
    assert att.normalized_attention_entropy(attn, mask) == pytest.approx((h1 + 1.0) / 3)


def test_entropy_single_key_and_renormalisation():
    mask = np.array([[False, False, True], [False, True, True]])
    attn = np.array([
        [[0.2, 0.3, 0.5]],   # j = 1 -> 0 regardless of leaked mass
        [[0.1, 0.45, 0.45]],  # renormalised on valid keys -> [0.5, 0.5] -> 1
    ])
    assert att.normalized_attention_entropy(attn, mask, per_fact=True).tolist() == [0.0, pytest.approx(1.0)]
    assert att.normalized_attention_entropy(attn, mask) == pytest.approx(0.5)


def test_jsd_by_hand():
    mask = np.ones((1, 2), dtype=bool)
    p = np.array([[[1.0, 0.0], [0.5, 0.5], [0.5, 0.5]]])
    q = np.array([[[0.0, 1.0], [0.5, 0.5], [1.0, 0.0]]])
    # disjoint -> 1 bit; equal -> 0; [.5,.5] vs [1,0]: M = [.75,.25],
    # KL(P||M) = .5 log2(2/3) + .5 = 0.2075187, KL(Q||M) = log2(4/3) = 0.4150375 -> JSD 0.3112781.
    per = att.attention_jsd(p, q, mask, per_fact=True)
    assert per[0] == pytest.approx((1.0 + 0.0 + 0.3112781) / 3, abs=1e-7)
    assert att.attention_jsd(p, p, mask) == pytest.approx(0.0, abs=1e-15)


def test_jsd_against_scipy_with_masks():
    rng = np.random.default_rng(3)
    N, heads, keys = 4, 3, 7
    pads = [0, 2, 5, 6]  # left padding per fact
    mask = np.array([[k >= pads[n] for k in range(keys)] for n in range(N)])
    def rand_attn():
        a = rng.random((N, heads, keys)) ** 3
        a = np.where(mask[:, None, :], a, 0.0)
        return a / a.sum(-1, keepdims=True)
    p, q = rand_attn(), rand_attn()
    expect = np.array([[jensenshannon(p[n, h, mask[n]], q[n, h, mask[n]], base=2) ** 2
                        for h in range(heads)] for n in range(N)])
    np.testing.assert_allclose(att.attention_jsd(p, q, mask, per_fact=True), expect.mean(1), atol=1e-12)
    assert att.attention_jsd(p, q, mask) == pytest.approx(expect.mean(), abs=1e-12)
    # entropy against scipy.stats.entropy
    from scipy.stats import entropy
    ent = np.array([[entropy(p[n, h, mask[n]]) / math.log(mask[n].sum()) if mask[n].sum() > 1 else 0.0
                     for h in range(heads)] for n in range(N)])
    np.testing.assert_allclose(att.normalized_attention_entropy(p, mask, per_fact=True), ent.mean(1), atol=1e-12)


def test_per_layer_wrappers():
    mask = np.ones((2, 4), dtype=bool)
    uniform = np.full((2, 1, 4), 0.25)
    onehot = np.zeros((2, 1, 4))
    onehot[:, :, 0] = 1.0
    layers = np.stack([uniform, onehot])
    np.testing.assert_allclose(att.attention_entropy_per_layer(layers, mask), [1.0, 0.0], atol=1e-12)
    np.testing.assert_allclose(att.attention_jsd_per_layer(layers, [uniform, uniform], mask),
                               [0.0, jensenshannon([1, 0, 0, 0], [.25] * 4, base=2) ** 2], atol=1e-12)


def test_invalid_inputs_raise():
    with pytest.raises(ValueError, match="no valid key"):
        att.normalized_attention_entropy(np.ones((1, 1, 2)) / 2, np.array([[False, False]]))
    with pytest.raises(ValueError, match="zero attention mass"):
        att.normalized_attention_entropy(np.array([[[1.0, 0.0]]]), np.array([[False, True]]))
    with pytest.raises(ValueError, match="mask"):
        att.attention_jsd(np.ones((1, 1, 2)) / 2, np.ones((1, 1, 2)) / 2, np.ones((1, 3), dtype=bool))
