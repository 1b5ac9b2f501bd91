"""Principal-subspace similarity and error-subspace alignment (SVD).

Follows paper 003, section 4.2.2 and appendices B.2 / E.2. Inputs are
activation matrices of the same n facts at one layer and token position,
reference ``R [n, d]`` and quantized ``Q [n, d]``, float64 arithmetic.

* Principal directions of a matrix X (columns centred by default): the top-k
  right singular vectors ``V_k [d, k]`` of ``X = U S V^T``, with
  ``k = energy_rank(S)``: the smallest k with
  ``sum_{i<=k} s_i^2 >= energy * sum_i s_i^2`` (90% spectral energy).
* Similarity of two orthonormal bases ``A [d, a]``, ``B [d, b]``:
  ``||A^T B||_F^2 / min(a, b)`` = mean of ``cos^2`` of the ``min(a, b)``
  principal angles (``scipy.linalg.subspace_angles``). Unitless, in [0, 1]:
  1 = one subspace contains the other, 0 = orthogonal.

``subspace_similarity``: k from R's spectrum, top-k of R vs top-k of Q (same
k), i.e. ``||V_R^T V_Q||_F^2 / k``. ``error_subspace_alignment``: E = Q - R,
``k_E`` from E's own spectrum, ``k_R`` from R's; score
``||V_E^T V_R||_F^2 / min(k_E, k_R)``.

Degenerate cases (no NaN): a matrix with no energy (all zero after centring,
within ``ZERO_RTOL`` of the inputs' scale) has no principal subspace.
Similarity: 1.0 if both R and Q have none, 0.0 if exactly one has none.
Alignment: 0.0 when E has none (no error to align) or R has none. When
singular values tie at the cut-off, the chosen basis is arbitrary among them.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "ZERO_RTOL",
    "energy_rank",
    "principal_directions",
    "basis_similarity",
    "subspace_similarity",
    "error_subspace_alignment",
]

ZERO_RTOL = 1e-10
_ENERGY_SLACK = 1e-12


def energy_rank(singular_values: np.ndarray, energy: float = 0.9) -> int:
    """Smallest k whose top-k singular values hold >= ``energy`` of ``sum s_i^2``.

    ``singular_values`` in any order (sorted descending here). Cumulative ratios
    within 1e-12 below ``energy`` count as reaching it (float round-off). 0 when
    the total energy is 0.
    """
    if not 0 < energy <= 1:
        raise ValueError(f"energy must be in (0, 1], got {energy}")
    s2 = np.sort(np.asarray(singular_values, dtype=np.float64) ** 2)[::-1]
    total = s2.sum()
    if total <= 0:
        return 0
    frac = np.cumsum(s2) / total
    return int(np.searchsorted(frac, energy - _ENERGY_SLACK, side="left") + 1)


def _prep(X, name: str, center: bool) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"{name} must be [n, d], got shape {X.shape}")
    return X - X.mean(axis=0, keepdims=True) if center else X.copy()


def _svd(X: np.ndarray, scale: float):
    """Right singular vectors and values of X, or (None, None) if X has no energy."""
    if not X.size or np.abs(X).max() <= ZERO_RTOL * max(scale, 1e-300):
        return None, None
    _, s, vt = np.linalg.svd(X, full_matrices=False)
    return vt.T, s


def principal_directions(X, *, energy: float = 0.9, k: int | None = None,
                         center: bool = True) -> np.ndarray:
    """Orthonormal top-k right singular vectors of ``X [n, d]``: returns ``[d, k]``.

    ``k = energy_rank(s, energy)`` unless given. Columns centred first when
    ``center`` (the default; the paper's activation matrices are compared as
    point clouds). Returns a ``[d, 0]`` array when X has no energy.
    """
    Xc = _prep(X, "X", center)
    V, s = _svd(Xc, float(np.abs(np.asarray(X, dtype=np.float64)).max(initial=0.0)))
    if V is None:
        return np.zeros((Xc.shape[1], 0))
    kk = energy_rank(s, energy) if k is None else int(min(k, V.shape[1]))
    return V[:, :kk]


def basis_similarity(A: np.ndarray, B: np.ndarray) -> float:
    """``||A^T B||_F^2 / min(a, b)`` for orthonormal ``A [d, a]``, ``B [d, b]``, in [0, 1].

    Mean squared cosine of the principal angles. 0.0 if either basis is empty.
    """
    a, b = A.shape[1], B.shape[1]
    if a == 0 or b == 0:
        return 0.0
    return float(np.clip(np.linalg.norm(A.T @ B) ** 2 / min(a, b), 0.0, 1.0))


def subspace_similarity(R, Q, *, energy: float = 0.9, center: bool = True) -> float:
    """Principal-subspace similarity of reference ``R [n, d]`` and quantized ``Q [n, d]``.

    ``k = energy_rank(sigma(R), energy)``; ``||V_R[:, :k]^T V_Q[:, :k]||_F^2 / k``,
    in [0, 1] (mean squared cosine of principal angles). The same k is used
    for Q (if Q's rank is below k, its trailing directions are arbitrary).
    """
    Rc, Qc = _prep(R, "R", center), _prep(Q, "Q", center)
    if Rc.shape != Qc.shape:
        raise ValueError(f"R and Q must have the same shape, got {Rc.shape} and {Qc.shape}")
    scale = max(np.abs(np.asarray(R, dtype=np.float64)).max(initial=0.0),
                np.abs(np.asarray(Q, dtype=np.float64)).max(initial=0.0))
    VR, sR = _svd(Rc, scale)
    VQ, _ = _svd(Qc, scale)
    if VR is None or VQ is None:
        return 1.0 if (VR is None and VQ is None) else 0.0
    k = energy_rank(sR, energy)
    return basis_similarity(VR[:, :k], VQ[:, :k])


def error_subspace_alignment(R, Q, *, energy: float = 0.9, center: bool = True) -> float:
    """Alignment of the quantization error's principal subspace with the signal's.

    ``E = Q - R`` (centred if ``center``); ``V_E`` = top-``k_E`` right singular
    vectors of E (``k_E = energy_rank(sigma(E))``), ``V_R`` = top-``k_R`` of R;
    returns ``||V_E^T V_R||_F^2 / min(k_E, k_R)`` in [0, 1]. High = the error
    lies in the signal's main directions (003: 2-bit); low = noise-like error
    (003: 4-bit). 0.0 when E or R carries no energy.
    """
    Rc, Qc = _prep(R, "R", center), _prep(Q, "Q", center)
    if Rc.shape != Qc.shape:
        raise ValueError(f"R and Q must have the same shape, got {Rc.shape} and {Qc.shape}")
    scale = max(np.abs(np.asarray(R, dtype=np.float64)).max(initial=0.0),
                np.abs(np.asarray(Q, dtype=np.float64)).max(initial=0.0))
    VR, sR = _svd(Rc, scale)
    VE, sE = _svd(Qc - Rc, scale)
    if VR is None or VE is None:
        return 0.0
    return basis_similarity(VE[:, :energy_rank(sE, energy)], VR[:, :energy_rank(sR, energy)])
