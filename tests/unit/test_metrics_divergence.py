"""metrics/divergence.py: KL(p_ref || p_quant) of the next-token distribution, against hand computations."""
import math

import numpy as np
import pytest

from pytest_qfacts.metrics.divergence import mean_next_token_kl, next_token_kl


def test_two_token_vocabulary_by_hand():
    # p = softmax([0, 0]) = (1/2, 1/2); q = softmax([ln 3, 0]) = (3/4, 1/4)
    # KL = 1/2 ln((1/2)/(3/4)) + 1/2 ln((1/2)/(1/4)) = 1/2 ln(2/3) + 1/2 ln 2 = 1/2 ln(4/3)
    kl = next_token_kl(np.array([[0.0, 0.0]]), np.array([[math.log(3.0), 0.0]]))
    assert kl.shape == (1,)
    assert kl[0] == pytest.approx(0.5 * math.log(4 / 3), abs=1e-12)


def test_three_tokens_against_an_explicit_sum_and_asymmetry():
    ref, quant = np.array([1.0, 2.0, 3.0]), np.array([3.0, 2.0, 1.0])
    p = np.exp(ref) / np.exp(ref).sum()
    q = np.exp(quant) / np.exp(quant).sum()
    expected = sum(pi * math.log(pi / qi) for pi, qi in zip(p, q))
    assert float(next_token_kl(ref, quant)) == pytest.approx(expected, rel=1e-12)
    # KL is not symmetric
    other = np.array([0.0, 0.0, 5.0])
    assert float(next_token_kl(ref, other)) != pytest.approx(float(next_token_kl(other, ref)))


def test_identical_and_shifted_logits_give_zero_and_large_logits_do_not_overflow():
    z = np.array([[1000.0, 999.0, -5.0], [0.1, 0.2, 0.3]])
    assert np.allclose(next_token_kl(z, z), 0.0) and (next_token_kl(z, z) >= 0).all()
    assert np.allclose(next_token_kl(z, z + 7.0), 0.0)  # a constant shift leaves softmax unchanged
    # a row with a 1000-nat gap: p = (1, ~0); q puts the mass on the other token: KL ~ 1000 - 0 = gap of log-probs
    kl = next_token_kl(np.array([1000.0, 0.0]), np.array([0.0, 1000.0]))
    assert float(kl) == pytest.approx(1000.0, rel=1e-9)


def test_mean_over_prompts_and_shape_error():
    ref = np.array([[0.0, 0.0], [0.0, 0.0]])
    quant = np.array([[math.log(3.0), 0.0], [0.0, 0.0]])
    assert mean_next_token_kl(ref, quant) == pytest.approx(0.25 * math.log(4 / 3), abs=1e-12)
    with pytest.raises(ValueError, match="differ in shape"):
        next_token_kl(np.zeros((2, 3)), np.zeros((2, 4)))
