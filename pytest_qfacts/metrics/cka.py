"""Linear centred kernel alignment (CKA) between two sets of representations.

Follows paper 003, section 4.2.1 and appendix B.2, which uses linear CKA
(Kornblith et al., 2019) to compare FP and quantized activation matrices of the
same facts at the same token position, layer by layer (diagonal) and across
layers (matrix).

For ``X [n, d1]`` and ``Y [n, d2]`` (rows = the same n facts), columns centred:

    CKA(X, Y) = ||Yc^T Xc||_F^2 / (||Xc^T Xc||_F * ||Yc^T Yc||_F)

which equals the HSIC form ``tr(K H L H) / sqrt(tr(K H K H) tr(L H L H))`` with
``K = X X^T``, ``L = Y Y^T``, ``H = I - 11^T / n``. Unitless, in [0, 1].
Invariant to orthogonal transforms and isotropic scaling of either input.

All arithmetic is float64. When ``n < d`` the n x n Gram form
``<Kc, Lc>_F / (||Kc||_F ||Lc||_F)`` (``Kc = Xc Xc^T``) is used; otherwise the
feature form above. Both are the same number.

Degenerate case: a representation that is constant across facts (every entry
of its centred matrix within ``CONSTANT_RTOL * max|X|`` of 0, e.g. n = 1, or an
unquantized embedding layer fed identical tokens) makes the ratio 0/0. We
define CKA = 1.0 when both inputs are constant (identical, trivially aligned
structure) and 0.0 when exactly one is (one carries structure, the other none).
No NaN is ever returned.
"""
from __future__ import annotations

import numpy as np

__all__ = ["CONSTANT_RTOL", "linear_cka", "cka_per_layer", "cka_matrix"]

CONSTANT_RTOL = 1e-10


def _centre(X: np.ndarray, name: str) -> tuple[np.ndarray, bool]:
    """Column-centred float64 copy of ``X [n, d]`` and whether it is constant."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D [n, d], got shape {X.shape}")
    X = X.astype(np.float64)  # copy
    scale = np.abs(X).max() if X.size else 0.0
    X -= X.mean(axis=0, keepdims=True)
    constant = (not X.size) or np.abs(X).max() <= CONSTANT_RTOL * max(scale, 1e-300)
    return X, bool(constant)


def _degenerate(cx: bool, cy: bool) -> float:
    return 1.0 if (cx and cy) else 0.0


def _cka_centred(Xc: np.ndarray, Yc: np.ndarray) -> float:
    n = Xc.shape[0]
    if n < max(Xc.shape[1], Yc.shape[1]):
        K = Xc @ Xc.T
        Lg = Yc @ Yc.T
        num = np.vdot(K, Lg)
        den = np.linalg.norm(K) * np.linalg.norm(Lg)
    else:
        num = np.linalg.norm(Yc.T @ Xc) ** 2
        den = np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc)
    if den <= 0:
        return 0.0
    return float(min(max(num / den, 0.0), 1.0))


def linear_cka(X: np.ndarray, Y: np.ndarray) -> float:
    """Linear CKA of ``X [n, d1]`` and ``Y [n, d2]`` (same n rows), in [0, 1].

    ``||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F)`` in float64, columns
    centred. Returns 1.0 if both are constant across rows, 0.0 if exactly one
    is (see module docstring). The result is clipped to [0, 1] to absorb
    rounding (mathematically it already lies there).
    """
    Xc, cx = _centre(X, "X")
    Yc, cy = _centre(Y, "Y")
    if Xc.shape[0] != Yc.shape[0]:
        raise ValueError(f"X and Y must have the same number of rows, got {Xc.shape[0]} and {Yc.shape[0]}")
    if cx or cy:
        return _degenerate(cx, cy)
    return _cka_centred(Xc, Yc)


def _stack(A, name: str) -> list[np.ndarray]:
    if isinstance(A, np.ndarray):
        if A.ndim != 3:
            raise ValueError(f"{name} must be [L, n, d], got shape {A.shape}")
        return [A[i] for i in range(A.shape[0])]
    return [np.asarray(a) for a in A]


def cka_per_layer(A, B) -> np.ndarray:
    """Layer-wise (diagonal) CKA: ``A [L, n, d_a]``, ``B [L, n, d_b]`` -> ``[L]`` float64.

    ``out[l] = linear_cka(A[l], B[l])``. A and B may also be sequences of L
    ``[n, d]`` arrays (layers are upcast to float64 one at a time).
    """
    la, lb = _stack(A, "A"), _stack(B, "B")
    if len(la) != len(lb):
        raise ValueError(f"A and B must have the same number of layers, got {len(la)} and {len(lb)}")
    return np.array([linear_cka(a, b) for a, b in zip(la, lb)], dtype=np.float64)


def cka_matrix(A, B, *, max_gram_bytes: int = 2**30) -> np.ndarray:
    """Full cross-layer CKA: ``A [L_a, n, d_a]``, ``B [L_b, n, d_b]`` -> ``[L_a, L_b]``.

    ``out[i, j] = linear_cka(A[i], B[j])``; its diagonal equals
    ``cka_per_layer(A, B)`` when ``L_a == L_b``. Uses the Gram form for every
    pair (cost ``(L_a + L_b) n^2 d + L_a L_b n^2``, cheaper than ``L_a L_b n d^2``
    of the feature form) while B's ``L_b`` centred n x n Gram matrices fit in
    ``max_gram_bytes`` of float64; otherwise falls back to pairwise
    ``linear_cka`` calls.
    """
    la, lb = _stack(A, "A"), _stack(B, "B")
    if not la or not lb:
        return np.zeros((len(la), len(lb)))
    n = la[0].shape[0]
    if any(x.ndim != 2 or x.shape[0] != n for x in la + lb):
        raise ValueError("every layer of A and B must be [n, d] with the same n")
    if len(lb) * n * n * 8 > max_gram_bytes:
        return np.array([[linear_cka(a, b) for b in lb] for a in la], dtype=np.float64)

    Gb = np.empty((len(lb), n * n))
    cb = np.empty(len(lb), dtype=bool)
    for j, y in enumerate(lb):
        yc, cb[j] = _centre(y, "B layer")
        Gb[j] = (yc @ yc.T).ravel()
    nb = np.linalg.norm(Gb, axis=1)
    out = np.empty((len(la), len(lb)))
    for i, x in enumerate(la):
        xc, ca = _centre(x, "A layer")
        if ca:
            out[i] = np.where(cb, 1.0, 0.0)
            continue
        Ka = (xc @ xc.T).ravel()
        den = np.linalg.norm(Ka) * nb
        with np.errstate(divide="ignore", invalid="ignore"):
            row = np.where(den > 0, (Gb @ Ka) / np.where(den > 0, den, 1.0), 0.0)
        out[i] = np.where(cb, 0.0, np.clip(row, 0.0, 1.0))
    return out
