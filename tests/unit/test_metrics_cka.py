"""Linear CKA against the naive HSIC form with an explicit centring matrix."""
import numpy as np
import pytest

from pytest_qfacts.metrics import cka


def naive_cka(X, Y):
    """tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)), K = X X^T, L = Y Y^T."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T
    return np.trace(K @ H @ L @ H) / np.sqrt(np.trace(K @ H @ K @ H) * np.trace(L @ H @ L @ H))


@pytest.fixture
def rng():
    return np.random.default_rng(42)


@pytest.mark.parametrize("n,d1,d2", [(10, 30, 20), (40, 5, 8), (12, 12, 3)])
def test_matches_naive_hsic(rng, n, d1, d2):
    X = rng.normal(size=(n, d1))
    Y = X[:, : min(d1, d2)] @ rng.normal(size=(min(d1, d2), d2)) + 0.5 * rng.normal(size=(n, d2))
    assert abs(cka.linear_cka(X, Y) - naive_cka(X, Y)) < 1e-6
    Z = rng.normal(size=(n, d2))
    assert abs(cka.linear_cka(X, Z) - naive_cka(X, Z)) < 1e-6


def test_self_orthogonal_and_scale_invariance(rng):
    X = rng.normal(size=(20, 8)) + 3.0
    assert cka.linear_cka(X, X) == pytest.approx(1.0, abs=1e-12)
    Q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    Y = rng.normal(size=(20, 6))
    base = cka.linear_cka(X, Y)
    assert cka.linear_cka(X @ Q, Y) == pytest.approx(base, abs=1e-10)
    assert cka.linear_cka(7.5 * X, 0.01 * Y) == pytest.approx(base, abs=1e-10)
    assert cka.linear_cka(X + 100.0, Y - 4.0) == pytest.approx(base, abs=1e-9)  # centring
    assert cka.linear_cka(X, X @ Q * 3.0) == pytest.approx(1.0, abs=1e-10)


def test_float16_input_is_upcast(rng):
    X = rng.normal(size=(16, 32)).astype(np.float16)
    Y = (X.astype(np.float32) + 0.1 * rng.normal(size=(16, 32))).astype(np.float16)
    assert abs(cka.linear_cka(X, Y) - naive_cka(X, Y)) < 1e-6


def test_constant_representations_give_no_nan(rng):
    X = rng.normal(size=(6, 4))
    const = np.tile(np.array([1.0, -2.0, 0.1, 5.0]), (6, 1))
    assert cka.linear_cka(const, const * 3) == 1.0
    assert cka.linear_cka(const, X) == 0.0
    assert cka.linear_cka(X, np.zeros((6, 4))) == 0.0
    assert cka.linear_cka(X[:1], X[1:2] * 2) == 1.0  # n = 1: both constant
    # 0.1 repeated does not centre to exactly 0 in float64; still constant.
    assert cka.linear_cka(np.full((7, 3), 0.1), np.full((7, 3), 0.3)) == 1.0


def test_per_layer_and_matrix(rng):
    L, n = 4, 9
    A = rng.normal(size=(L, n, 12))
    B = A + rng.normal(size=(L, n, 12)) * np.array([0.0, 0.3, 1.0, 3.0])[:, None, None]
    B[3] = 2.0  # constant layer in B
    diag = cka.cka_per_layer(A, B)
    assert diag.shape == (L,)
    assert diag[0] == pytest.approx(1.0)
    assert diag[3] == 0.0
    for l in range(3):
        assert diag[l] == pytest.approx(naive_cka(A[l], B[l]), abs=1e-9)
    assert diag[1] > diag[2]
    M = cka.cka_matrix(A, B)
    assert M.shape == (L, L)
    np.testing.assert_allclose(np.diag(M), diag, atol=1e-12)
    for i in range(L):
        for j in range(3):
            assert M[i, j] == pytest.approx(naive_cka(A[i], B[j]), abs=1e-9)
    assert np.all(M[:, 3] == 0.0)
    assert not np.isnan(M).any()
    C = np.concatenate([B[3:4], B[3:4]])
    assert cka.cka_matrix(C, C).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_matrix_n_greater_than_d_fallback_and_sequences(rng):
    A = [rng.normal(size=(30, 4)), rng.normal(size=(30, 6))]  # n > d
    B = [a @ rng.normal(size=(a.shape[1], 5)) for a in A]
    M = cka.cka_matrix(A, B)
    for i in range(2):
        for j in range(2):
            assert M[i, j] == pytest.approx(naive_cka(A[i], B[j]), abs=1e-9)
    np.testing.assert_allclose(cka.cka_per_layer(A, B), np.diag(M))
    # Pairwise fallback (Gram matrices over budget) gives the same numbers.
    np.testing.assert_allclose(cka.cka_matrix(A, B, max_gram_bytes=0), M, atol=1e-12)
    C = list(A)
    C[1] = np.ones((30, 6))  # constant layer
    F = cka.cka_matrix(C, C, max_gram_bytes=0)
    np.testing.assert_allclose(F, cka.cka_matrix(C, C), atol=1e-12)
    assert F[1, 1] == 1.0 and F[0, 1] == 0.0 and F[1, 0] == 0.0


def test_shape_errors(rng):
    with pytest.raises(ValueError):
        cka.linear_cka(rng.normal(size=(5, 3)), rng.normal(size=(6, 3)))
    with pytest.raises(ValueError):
        cka.cka_per_layer(rng.normal(size=(2, 5, 3)), rng.normal(size=(3, 5, 3)))
