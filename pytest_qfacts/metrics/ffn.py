"""FFN key-value memory integrity: gating, neuron selection, retrieved value.

Follows paper 003, section 4.1.2 and appendix B.1 (after Geva et al., 2021:
FFN layers as key-value memories). For a gated MLP (SwiGLU:
``down(act(gate(x)) * up(x))``) at one token position (003 uses the last
subject token):

* gate sign-flip rate: does the gate pre-activation ``gate(x)`` keep its sign?
* top-1% Jaccard: does the quantized model select the same most-activated
  neurons (by ``|act(gate(x)) * up(x)|``, the input to ``down_proj``)?
* value cosine: does the MLP output ``down(...)`` point the same way?

All inputs are per-layer stacks ``[L, N, D]`` (layers, facts, width), reference
first, quantized second; layers may also be given as a sequence of ``[N, D]``
arrays. Each function returns the mean over facts per layer, ``[L]`` float64,
or with ``per_fact=True`` the unaveraged ``[L, N]`` values.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["gate_sign_flip_rate", "topk_count", "topk_jaccard", "index_set_jaccard", "output_cosine"]


def _pairs(ref, quant, name: str):
    if isinstance(ref, np.ndarray) and ref.ndim == 3:
        ref = [ref[i] for i in range(ref.shape[0])]
    if isinstance(quant, np.ndarray) and quant.ndim == 3:
        quant = [quant[i] for i in range(quant.shape[0])]
    ref, quant = list(ref), list(quant)
    if len(ref) != len(quant):
        raise ValueError(f"{name}: reference and quantized have {len(ref)} and {len(quant)} layers")
    out = []
    for i, (r, q) in enumerate(zip(ref, quant)):
        r, q = np.asarray(r), np.asarray(q)
        if r.ndim != 2 or r.shape != q.shape:
            raise ValueError(f"{name}: layer {i} must be [N, D] in both models, got {r.shape} and {q.shape}")
        out.append((r, q))
    return out


def _finish(per_layer: list[np.ndarray], per_fact: bool) -> np.ndarray:
    arr = np.stack(per_layer).astype(np.float64) if per_layer else np.zeros((0, 0))
    return arr if per_fact else arr.mean(axis=1) if arr.shape[1] else np.full(arr.shape[0], np.nan)


def gate_sign_flip_rate(gate_ref, gate_quant, *, per_fact: bool = False) -> np.ndarray:
    """Gate sign-flip rate per layer: ``[L, N, D]`` x2 -> ``[L]`` (fraction in [0, 1]).

    ``SFR_l = mean over facts n of (1/D) * #{j: sign(g_ref[l,n,j]) != sign(g_q[l,n,j])}``
    with ``sign`` in {-1, 0, +1}: an exact zero is its own sign, so 0 vs +x
    and 0 vs -x count as flips, 0 vs 0 does not. Inputs are the gate
    pre-activations (``gate_proj(x)``, before SiLU/GELU). Averaging per fact
    then over facts equals the pooled fraction over all (fact, neuron) entries.
    """
    rates = [np.mean(np.sign(r) != np.sign(q), axis=1) for r, q in _pairs(gate_ref, gate_quant, "gate")]
    return _finish(rates, per_fact)


def topk_count(d_ff: int, fraction: float = 0.01) -> int:
    """Number of neurons in the "top fraction" set: ``k = max(1, ceil(fraction * d_ff))``.

    The ceiling ignores float round-off below 1e-9 (``0.01 * 1500`` gives 15, not 16).
    """
    if not 0 < fraction <= 1:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    return max(1, math.ceil(fraction * d_ff - 1e-9))


def topk_jaccard(act_ref, act_quant, *, fraction: float = 0.01, per_fact: bool = False) -> np.ndarray:
    """Jaccard index of the top-``fraction`` most activated neurons: ``[L, N, D]`` x2 -> ``[L]``.

    For each (layer, fact): ``S = indices of the k largest |a_j|`` with
    ``k = topk_count(D, fraction)`` (1% by default), ``J = |S_ref & S_q| /
    |S_ref | S_q| = i / (2k - i)``; averaged over facts. Unitless, in [0, 1].
    ``a`` is the intermediate activation fed to ``down_proj``. Ties at the
    k-th magnitude are broken by ``np.argpartition`` (arbitrary but
    deterministic); activations with many exact ties make J ill-defined.
    """
    vals = []
    for r, q in _pairs(act_ref, act_quant, "act"):
        N, D = r.shape
        k = topk_count(D, fraction)
        if k == D:
            vals.append(np.ones(N))
            continue
        ir = np.argpartition(-np.abs(r), k - 1, axis=1)[:, :k]
        iq = np.argpartition(-np.abs(q), k - 1, axis=1)[:, :k]
        vals.append(index_set_jaccard(ir, iq))
    return _finish(vals, per_fact)


def index_set_jaccard(idx_ref, idx_quant) -> np.ndarray:
    """Jaccard index of two index sets per row: ``[..., k]`` x2 -> ``[...]``.

    Each row holds ``k`` distinct indices (e.g. the top-1% neurons);
    ``J = i / (2k - i)`` with ``i = |A & B|``, counted as the equal neighbours of the
    sorted concatenation (each set has no repeats). Unitless, in [0, 1].
    """
    a, b = np.asarray(idx_ref), np.asarray(idx_quant)
    if a.shape != b.shape:
        raise ValueError(f"index sets must have the same shape, got {a.shape} and {b.shape}")
    k = a.shape[-1]
    both = np.sort(np.concatenate([a, b], axis=-1), axis=-1)
    inter = np.count_nonzero(both[..., 1:] == both[..., :-1], axis=-1)
    return inter / (2 * k - inter)


def output_cosine(out_ref, out_quant, *, per_fact: bool = False) -> np.ndarray:
    """Mean cosine similarity of MLP outputs per layer: ``[L, N, H]`` x2 -> ``[L]``.

    ``cos = <o_ref, o_q> / (||o_ref|| ||o_q||)`` per (layer, fact), in [-1, 1],
    computed in float64, averaged over facts. Zero vectors: 1.0 if both are
    zero, 0.0 if exactly one is (same convention as ``metrics.cka``).
    """
    vals = []
    for r, q in _pairs(out_ref, out_quant, "out"):
        r, q = r.astype(np.float64), q.astype(np.float64)
        nr, nq = np.linalg.norm(r, axis=1), np.linalg.norm(q, axis=1)
        dot = np.einsum("nd,nd->n", r, q)
        zr, zq = nr == 0, nq == 0
        with np.errstate(divide="ignore", invalid="ignore"):
            cos = np.where(zr | zq, 0.0, dot / np.where(zr | zq, 1.0, nr * nq))
        cos = np.where(zr & zq, 1.0, np.clip(cos, -1.0, 1.0))
        vals.append(cos)
    return _finish(vals, per_fact)
