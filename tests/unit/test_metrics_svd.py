"""Principal-subspace similarity against hand cases and scipy.linalg.subspace_angles."""
import numpy as np
import pytest
from scipy.linalg import subspace_angles

from pytest_qfacts.metrics import svd


def _hand_k(s, energy=0.9):
    s2 = sorted((float(x) ** 2 for x in s), reverse=True)
    total, acc = sum(s2), 0.0
    for i, v in enumerate(s2, 1):
        acc += v
        if acc >= energy * total - 1e-12:
            return i
    return len(s2)


def test_energy_rank_by_hand():
    assert svd.energy_rank([3.0, 1.0]) == 1        # 9 / 10 = 0.9 exactly
    assert svd.energy_rank([1.0, 3.0]) == 1        # order does not matter
    assert svd.energy_rank([2.0, 1.0, 1.0]) == 3   # 4/6, 5/6, 1
    assert svd.energy_rank([1.0] * 10) == 9
    assert svd.energy_rank([5.0, 0.0, 0.0]) == 1
    assert svd.energy_rank([0.0, 0.0]) == 0
    assert svd.energy_rank([2.0, 1.0, 1.0], energy=0.5) == 1


def _low_rank(rng, n, d, basis_cols, scales):
    B = np.zeros((d, len(basis_cols)))
    B[basis_cols, range(len(basis_cols))] = 1.0
    return rng.normal(size=(n, len(basis_cols))) * scales @ B.T


def test_identical_and_scaled_give_one():
    rng = np.random.default_rng(0)
    R = rng.normal(size=(30, 10)) @ rng.normal(size=(10, 10))
    assert svd.subspace_similarity(R, R) == pytest.approx(1.0)
    assert svd.subspace_similarity(R, 3.0 * R + 7.0) == pytest.approx(1.0)


def test_orthogonal_subspaces_give_zero():
    rng = np.random.default_rng(1)
    R = _low_rank(rng, 40, 6, [0, 1], [10.0, 8.0])
    Q = _low_rank(rng, 40, 6, [2, 3], [10.0, 8.0])
    assert svd.subspace_similarity(R, Q) == pytest.approx(0.0, abs=1e-12)


def test_similarity_against_scipy_subspace_angles():
    rng = np.random.default_rng(2)
    n, d = 50, 12
    R = rng.normal(size=(n, d)) * np.linspace(5, 0.2, d)
    Q = R + 0.8 * rng.normal(size=(n, d))
    Rc, Qc = R - R.mean(0), Q - Q.mean(0)
    _, sR, vR = np.linalg.svd(Rc, full_matrices=False)
    _, _, vQ = np.linalg.svd(Qc, full_matrices=False)
    k = _hand_k(sR)
    assert 1 < k < d
    theta = subspace_angles(vR[:k].T, vQ[:k].T)
    got = svd.subspace_similarity(R, Q)
    assert got == pytest.approx(np.mean(np.cos(theta) ** 2), abs=1e-10)
    assert 0.0 < got < 1.0
    np.testing.assert_allclose(np.abs(svd.principal_directions(R).T @ vR[:k].T), np.eye(k), atol=1e-8)


def test_error_alignment():
    rng = np.random.default_rng(3)
    R = _low_rank(rng, 40, 6, [0, 1], [10.0, 8.0])
    # Error inside the signal subspace -> 1.
    assert svd.error_subspace_alignment(R, 1.5 * R) == pytest.approx(1.0)
    # Error orthogonal to the signal subspace -> 0.
    noise = _low_rank(rng, 40, 6, [3, 4, 5], [1.0, 1.0, 1.0])
    assert svd.error_subspace_alignment(R, R + noise) == pytest.approx(0.0, abs=1e-12)
    # No error at all -> 0 by convention.
    assert svd.error_subspace_alignment(R, R.copy()) == 0.0
    # General case against scipy with k_E != k_R.
    R = rng.normal(size=(60, 10)) * np.linspace(6, 0.5, 10)
    E = rng.normal(size=(60, 10)) * np.array([4.0, 0.1, 3.0] + [0.05] * 7)
    Rc, Ec = R - R.mean(0), E - E.mean(0)
    _, sR, vR = np.linalg.svd(Rc, full_matrices=False)
    _, sE, vE = np.linalg.svd(Ec, full_matrices=False)
    kR, kE = _hand_k(sR), _hand_k(sE)
    assert kR != kE
    theta = subspace_angles(vE[:kE].T, vR[:kR].T)
    assert len(theta) == min(kR, kE)
    assert svd.error_subspace_alignment(R, R + E) == pytest.approx(np.mean(np.cos(theta) ** 2), abs=1e-8)


def test_degenerate_inputs():
    Z = np.zeros((5, 3))
    X = np.random.default_rng(4).normal(size=(5, 3))
    assert svd.subspace_similarity(Z, Z) == 1.0
    assert svd.subspace_similarity(Z, X) == 0.0
    assert svd.subspace_similarity(X, np.ones((5, 3))) == 0.0  # constant rows centre to 0
    assert svd.error_subspace_alignment(Z, X) == 0.0
    assert svd.principal_directions(Z).shape == (3, 0)
    assert svd.basis_similarity(np.eye(3)[:, :2], np.zeros((3, 0))) == 0.0
    with pytest.raises(ValueError):
        svd.subspace_similarity(X, X[:4])
