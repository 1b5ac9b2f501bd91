"""Compact storage of per-layer activation matrices, with a stated bound on the CKA error.

A baseline keeps the reference's activations ``X [L, N, H]`` (layers, facts, width)
so later runs can compare against them without the reference model. Stored whole
they take ``4·L·H`` bytes per fact and position (SmolLM2: 69 KB), too much for a
repository. Each layer is stored as its column mean and a truncated SVD of the
centred matrix instead:

    Xc = X - mean = U S V^T,   X_r = mean + U_r S_r V_r^T   (the r largest singular values)

with, per layer, the smallest rank r such that

    bound = sqrt( sum_{i>r} s_i^4 / sum_i s_i^4 ) <= max_cka_error    (per layer)

**Error bound.** For any Y with the same rows, |CKA(X_r, Y) - CKA(X, Y)| <= bound
(linear CKA as in ``metrics.cka``). Proof sketch: with E = Xc - U_r S_r V_r^T, the
row spaces of X_r and E are orthogonal, so ||Yc^T Xc||² = ||Yc^T X_r||² + ||Yc^T E||²
and ||Xc^T Xc||² = S_r + T (S_r = sum_{i<=r} s^4, T = the tail); Cauchy–Schwarz gives
0 <= ||Yc^T E||² <= ||Yc^T Yc||·sqrt(T). The difference of the two ratios is then
at most max(1 - sqrt(S_r/(S_r+T)), sqrt(T/(S_r+T))) = sqrt(T/(S_r+T)).
U_r and V_r are stored as float16, which adds a rounding error well under 1e-3 to CKA
(measured on random matrices); ``tests/store/test_compress.py`` checks
|CKA(X_r, Y) - CKA(X, Y)| <= bound + 1e-3 on random matrices with massive channels, and
``tests/plugin/test_option_update_baseline.py`` that a gate from a stored baseline reaches the CKA
of a gate from the model within 0.011.

Other uses of the reconstruction (cosines, subspaces) see a relative error of
``sqrt(sum_{i>r} s_i^2 / sum_i s_i^2)`` per layer, recorded as ``frobenius_error``.
"""
from __future__ import annotations

import numpy as np

DEFAULT_MAX_CKA_ERROR = 0.01


def _rank_for(s: np.ndarray, max_error: float) -> int:
    """Smallest r with sqrt(sum_{i>=r} s^4 / sum s^4) <= max_error."""
    s4 = s.astype(np.float64) ** 4
    total = s4.sum()
    if total <= 0:
        return 0
    tail = np.concatenate([np.cumsum(s4[::-1])[::-1], [0.0]])  # tail[r] = sum_{i>=r} s_i^4
    return int(np.argmax(np.sqrt(tail / total) <= max_error))


def compress(x: np.ndarray, max_cka_error: float = DEFAULT_MAX_CKA_ERROR, *, keep_basis: bool = True
             ) -> tuple[dict[str, np.ndarray], dict]:
    """[L, N, H] float array -> arrays {"mean": [L, H], "<l>.u": [N, r_l] f16, "<l>.s": [r_l], "<l>.v": [H, r_l] f16}, meta.

    Each layer keeps its own rank r_l. The orthonormal factors u and v are stored as
    float16 (|entries| <= 1, relative rounding 2^-11), the singular values as float32.
    ``keep_basis=False`` drops v (and the mean): CKA depends on X only through its centred
    Gram matrix Xc Xc^T = U S² U^T, so ``U S`` (padded with zero columns) gives the same
    CKA with any Y; use it when nothing compares the activations coordinate by coordinate.
    """
    x = np.asarray(x, dtype=np.float32)
    L, N, H = x.shape
    mean = x.mean(axis=1)
    arrays: dict[str, np.ndarray] = {"mean": mean}
    ranks, cka_bound, frob = [], [], []
    for l in range(L):
        u, s, vt = np.linalg.svd((x[l] - mean[l]).astype(np.float64), full_matrices=False)
        r = _rank_for(s, max_cka_error)
        arrays[f"{l}.u"] = np.ascontiguousarray(u[:, :r].astype(np.float16))
        arrays[f"{l}.s"] = s[:r].astype(np.float32)
        if keep_basis:
            arrays[f"{l}.v"] = np.ascontiguousarray(vt[:r].T.astype(np.float16))
        s4, s2 = s ** 4, s ** 2
        ranks.append(r)
        cka_bound.append(float(np.sqrt(s4[r:].sum() / s4.sum())) if s4.sum() > 0 else 0.0)
        frob.append(float(np.sqrt(s2[r:].sum() / s2.sum())) if s2.sum() > 0 else 0.0)
    if not keep_basis:
        arrays["mean"] = np.zeros((L, 0), np.float32)
    meta = {"shape": [L, N, H], "basis": keep_basis, "ranks": ranks, "max_cka_error": max_cka_error,
            "cka_error_bound": cka_bound, "frobenius_error": frob}
    return arrays, meta


def decompress(arrays: dict[str, np.ndarray], shape) -> np.ndarray:
    """The per-layer reconstruction ``mean + u diag(s) v^T`` as [L, N, H] float32."""
    L, N, _ = shape
    if "0.v" not in arrays and L:  # stored without the basis: U S, zero-padded to the widest layer
        width = max(1, max(arrays[f"{l}.s"].size for l in range(L)))
        out = np.zeros((L, N, width), np.float32)
        for l in range(L):
            r = arrays[f"{l}.s"].size
            out[l, :, :r] = arrays[f"{l}.u"].astype(np.float32) * arrays[f"{l}.s"]
        return out
    out = np.repeat(arrays["mean"][:, None, :].astype(np.float32), N, axis=1)
    for l in range(L):
        u, s, v = arrays[f"{l}.u"].astype(np.float32), arrays[f"{l}.s"], arrays[f"{l}.v"].astype(np.float32)
        if s.size:
            out[l] += (u * s) @ v.T
    return out


def pack_signs(x: np.ndarray) -> dict[str, np.ndarray]:
    """An int8 array of -1/0/+1 as two bit planes (x > 0, x < 0): 2 bits per entry, lossless."""
    return {"pos": np.packbits(x > 0, axis=None), "neg": np.packbits(x < 0, axis=None)}


def unpack_signs(parts: dict[str, np.ndarray], shape) -> np.ndarray:
    n = int(np.prod(shape))
    pos = np.unpackbits(parts["pos"], count=n).astype(np.int8)
    neg = np.unpackbits(parts["neg"], count=n).astype(np.int8)
    return (pos - neg).reshape(shape)
