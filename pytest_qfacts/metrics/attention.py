"""Attention-pattern integrity: concentration (entropy) and focus shift (JSD).

Follows paper 003, section 4.1.1 and appendices B.1 / D.2. Input is one
layer's attention weights at a single query position (003 uses the last
subject token), ``attn [N, heads, keys]`` (facts, heads, key positions), and a
key-validity mask ``[N, keys]`` (True = a real key). With left padding the
invalid keys are the leading pad positions; the mask must also exclude keys
after the query position (causality) if the caller passes a full-length row.

Rows are restricted to the valid keys and renormalised to sum to 1 there
(absorbs fp16 rounding and any mass leaked onto padding); tiny negative
values are clipped to 0. A row with no valid key, or no mass on its valid
keys, raises ValueError. ``0 * log 0 = 0`` throughout. Float64 arithmetic.
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "normalized_attention_entropy",
    "attention_jsd",
    "attention_entropy_per_layer",
    "attention_jsd_per_layer",
]


def _prep(attn, mask, name: str):
    a = np.asarray(attn, dtype=np.float64)
    if a.ndim != 3:
        raise ValueError(f"{name} must be [N, heads, keys], got shape {a.shape}")
    m = np.asarray(mask, dtype=bool)
    if m.shape != (a.shape[0], a.shape[2]):
        raise ValueError(f"mask must be [N={a.shape[0]}, keys={a.shape[2]}], got shape {m.shape}")
    j = m.sum(axis=1)
    if np.any(j == 0):
        raise ValueError(f"mask: facts {np.flatnonzero(j == 0).tolist()} have no valid key")
    p = np.where(m[:, None, :], np.maximum(a, 0.0), 0.0)
    s = p.sum(axis=2, keepdims=True)
    if np.any(s <= 0):
        raise ValueError(f"{name}: some (fact, head) rows have zero attention mass on their valid keys")
    return p / s, j


def _plogp(p: np.ndarray, base_log: float) -> np.ndarray:
    """Elementwise ``p * log(p) / base_log`` with ``0 log 0 = 0``."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0)), 0.0) / base_log


def normalized_attention_entropy(attn, mask, *, per_fact: bool = False):
    """Normalized attention entropy at one query position, averaged over heads and facts.

    For each (fact n, head h) with ``j_n`` valid keys and distribution ``p``:
    ``H(p) / log(j_n)`` where ``H(p) = -sum_k p_k ln p_k`` (nats / nats ->
    unitless, in [0, 1]; 0 = one-hot focus, 1 = uniform). ``j_n = 1`` -> 0.
    Returns a float (mean over heads then facts), or ``[N]`` (mean over heads)
    with ``per_fact=True``.
    """
    p, j = _prep(attn, mask, "attn")
    H = -_plogp(p, 1.0).sum(axis=2)  # [N, heads]
    logj = np.log(np.maximum(j, 1)).astype(np.float64)[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.where(logj > 0, H / np.where(logj > 0, logj, 1.0), 0.0)
    h = np.clip(h, 0.0, 1.0).mean(axis=1)
    return h if per_fact else float(h.mean())


def attention_jsd(attn_ref, attn_quant, mask, *, per_fact: bool = False):
    """Jensen-Shannon divergence (base 2) between reference and quantized attention.

    ``JSD(P, Q) = 1/2 KL(P || M) + 1/2 KL(Q || M)``, ``M = (P + Q) / 2``, logs
    base 2, so the value is in bits and lies in [0, 1] (0 = same focus, 1 =
    disjoint supports). This is the divergence, i.e. the square of
    ``scipy.spatial.distance.jensenshannon(p, q, base=2)``. Computed per
    (fact, head) over the valid keys, averaged over heads then facts; returns
    a float, or ``[N]`` with ``per_fact=True``.
    """
    p, _ = _prep(attn_ref, mask, "attn_ref")
    q, _ = _prep(attn_quant, mask, "attn_quant")
    if p.shape != q.shape:
        raise ValueError(f"attn_ref and attn_quant shapes differ: {p.shape} vs {q.shape}")
    m = 0.5 * (p + q)
    ln2 = np.log(2.0)
    # sum p log p + sum q log q - 2 sum m log m, halved, is the JSD.
    jsd = 0.5 * (_plogp(p, ln2) + _plogp(q, ln2) - 2.0 * _plogp(m, ln2)).sum(axis=2)
    jsd = np.clip(jsd, 0.0, 1.0).mean(axis=1)
    return jsd if per_fact else float(jsd.mean())


def _layers(x, name):
    if isinstance(x, np.ndarray):
        if x.ndim != 4:
            raise ValueError(f"{name} must be [L, N, heads, keys] or a sequence of [N, heads, keys]")
        return [x[i] for i in range(x.shape[0])]
    return list(x)


def attention_entropy_per_layer(layers, mask) -> np.ndarray:
    """``normalized_attention_entropy`` for each layer: ``[L, N, heads, keys]`` -> ``[L]``.

    ``layers`` may be a sequence of ``[N, heads, keys]`` arrays (head counts may
    differ between layers); the same ``mask [N, keys]`` applies to all.
    """
    return np.array([normalized_attention_entropy(a, mask) for a in _layers(layers, "layers")], dtype=np.float64)


def attention_jsd_per_layer(ref_layers, quant_layers, mask) -> np.ndarray:
    """``attention_jsd`` for each layer: ``[L, N, heads, keys]`` x2 -> ``[L]`` (bits)."""
    r, q = _layers(ref_layers, "ref_layers"), _layers(quant_layers, "quant_layers")
    if len(r) != len(q):
        raise ValueError(f"reference and quantized have {len(r)} and {len(q)} layers")
    return np.array([attention_jsd(a, b, mask) for a, b in zip(r, q)], dtype=np.float64)
