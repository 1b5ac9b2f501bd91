"""Knowledge-neuron contributions, top-300 threshold and retained counts by hand."""
import numpy as np
import pytest

from pytest_qfacts.metrics import neurons as kn


def test_down_proj_dot_gold_by_hand():
    W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, -1.0]])  # [H=2, D=3]
    u = np.array([[1.0, 2.0], [0.0, 1.0]])              # [N=2, H=2]
    got = kn.down_proj_dot_gold([W, 2 * W], u)
    assert got.shape == (2, 2, 3)
    # fact 0: [1*1+2*0, 1*0+2*1, 1*2+2*(-1)] = [1, 2, 0]; fact 1: [0, 1, -1].
    assert got[:, 0].tolist() == [[1, 2, 0], [0, 1, -1]]
    assert got[:, 1].tolist() == [[2, 4, 0], [0, 2, -2]]
    g = np.array([2.0, 1.0])  # folded final-norm gain: u_eff = [2, 2] for fact 0
    assert kn.down_proj_dot_gold(np.stack([W]), u, final_norm_weight=g)[0, 0].tolist() == [2, 2, 2]


def test_neuron_contributions_by_hand():
    act = np.array([[[1.0, -2.0, 3.0]]])
    ddg = np.array([[[0.5, 0.5, -1.0]]])
    assert kn.neuron_contributions(act, ddg).tolist() == [[[0.5, -1.0, -3.0]]]
    assert kn.neuron_contributions(act, ddg, norm_scale=[2.0]).tolist() == [[[1.0, -2.0, -6.0]]]
    with pytest.raises(ValueError):
        kn.neuron_contributions(act, ddg[:, :, :2])


REF = np.array([
    [[5.0, 1.0, -2.0], [3.0, 4.0, 0.0]],    # fact 0, [L=2, D=3]
    [[0.0, 0.0, 1.0], [2.0, 2.0, -1.0]],    # fact 1
])
QUANT = np.array([
    [[5.0, 0.0, 0.0], [3.0, 2.0, 9.0]],
    [[0.0, 0.0, 0.0], [2.0, 1.0, 0.0]],
])


def test_threshold_and_retained_counts():
    tau = kn.top_neuron_threshold(REF, top=3)
    # fact 0 sorted: 5, 4, 3 -> tau 3; fact 1 sorted: 2, 2, 1 -> tau 1.
    assert tau.tolist() == [3.0, 1.0]
    mask = kn.top_neuron_mask(REF, top=3)
    assert mask[0].tolist() == [[True, False, False], [True, True, False]]
    assert mask[1].tolist() == [[False, False, True], [True, True, False]]
    # reference against its own threshold retains exactly `top`.
    assert kn.retained_count(REF, tau).tolist() == [3, 3]
    # overall: fact 0 has 5, 3, 9 >= 3 -> 3; fact 1 has 2, 1 >= 1 -> 2.
    assert kn.retained_count(QUANT, tau).tolist() == [3, 2]
    # within the reference's top set: fact 0 keeps 5, 3 (4 -> 2 dropped); fact 1 keeps 2, 1 (1 -> 0 dropped).
    assert kn.retained_count(QUANT, tau, within=mask).tolist() == [2, 2]
    assert kn.retained_count(QUANT, tau, per_layer=True).tolist() == [[1, 2], [0, 2]]
    np.testing.assert_allclose(kn.retained_fraction(QUANT, tau, top=3), [1.0, 2 / 3])
    np.testing.assert_allclose(kn.retained_fraction(QUANT, tau, top=3, within=mask), [2 / 3, 2 / 3])


def test_top_is_clamped_to_neuron_count():
    assert kn.effective_top(6, 300) == 6
    tau = kn.top_neuron_threshold(REF)  # 300 > 6 neurons: tau = smallest contribution
    assert tau.tolist() == [-2.0, -1.0]
    np.testing.assert_allclose(kn.retained_fraction(QUANT, tau), [1.0, 1.0])
    with pytest.raises(ValueError):
        kn.effective_top(6, 0)


def test_threshold_against_sort_on_random_data():
    rng = np.random.default_rng(0)
    c = rng.normal(size=(4, 5, 200))
    tau = kn.top_neuron_threshold(c, top=300)
    expect = np.sort(c.reshape(4, -1), axis=1)[:, ::-1][:, 299]
    np.testing.assert_array_equal(tau, expect)
    assert kn.retained_count(c, tau).tolist() == [300] * 4


def test_layer_contribution_and_drop():
    ref_attn = np.array([[1.0, 2.0, 3.0], [3.0, 2.0, 1.0]])  # [N=2, L=3]
    q_attn = np.array([[1.0, 1.0, 0.0], [3.0, 1.0, 2.0]])
    assert kn.layer_contribution(ref_attn).tolist() == [2.0, 2.0, 2.0]
    assert kn.layer_contribution(ref_attn, norm_scale=[1.0, 0.0]).tolist() == [0.5, 1.0, 1.5]
    # means: ref [2, 2, 2], quant [2, 1, 1] -> drop [0, 1, 1]
    assert kn.contribution_drop(ref_attn, q_attn).tolist() == [0.0, 1.0, 1.0]
    assert kn.contribution_drop(q_attn, ref_attn).tolist() == [0.0, -1.0, -1.0]
    with pytest.raises(ValueError):
        kn.contribution_drop(ref_attn, q_attn[:, :2])
