"""Logit lens: how strongly each layer already predicts the gold token.

Follows paper 003, section 3.3 (layer-wise knowledge probing; nostalgebraist's
logit lens). Each layer's residual stream ``h_l`` is decoded through the model's
final norm and unembedding, ``logits_l = W_U norm(h_l) (+ b)``, by ``trace/lens.py``
(the model's own modules, in chunks of rows); this module turns those logits into
the gold token's probability and rank, and summarises ranks per layer. Pure numpy.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = [
    "LensStats",
    "gold_stats_from_logits",
    "median_rank_per_layer",
    "first_layer_in_topk",
    "lens_signal_fraction",
    "lens_signal_ratio",
]



@dataclass(frozen=True)
class LensStats:
    """Per-layer, per-fact logit-lens statistics of the gold token.

    ``prob[l, n]``: softmax probability of the gold token (unitless, in [0, 1]).
    ``rank[l, n]``: 1-based rank, ``1 + #{v: logit_v > logit_gold}`` (int64;
    ties with the gold token do not push it down, so the best rank is 1).
    ``logit[l, n]``: the gold token's logit (model logit units, nats).
    """

    prob: np.ndarray
    rank: np.ndarray
    logit: np.ndarray


def _rows_stats(logits: np.ndarray, gold: np.ndarray, softcap: float | None):
    """Gold prob, rank and logit for each row of ``logits [c, V]`` (float32+)."""
    if softcap is not None:
        logits = softcap * np.tanh(logits / softcap)
    gl = np.take_along_axis(logits, gold[:, None], axis=1)  # [c, 1]
    rank = 1 + np.count_nonzero(logits > gl, axis=1)
    m = logits.max(axis=1, keepdims=True)
    lse = m[:, 0] + np.log(np.exp(logits - m).sum(axis=1))
    prob = np.exp(gl[:, 0] - lse)
    return prob, rank.astype(np.int64), gl[:, 0]


def _check_gold(gold: np.ndarray, vocab: int) -> np.ndarray:
    gold = np.asarray(gold)
    if not np.issubdtype(gold.dtype, np.integer):
        raise ValueError(f"gold must hold integer token ids, got dtype {gold.dtype}")
    if gold.size and (gold.min() < 0 or gold.max() >= vocab):
        raise ValueError(f"gold token ids must lie in [0, {vocab}), got [{gold.min()}, {gold.max()}]")
    return gold.astype(np.int64)


def gold_stats_from_logits(logits: np.ndarray, gold: np.ndarray, *,
                           softcap: float | None = None) -> LensStats:
    """Gold-token probability and rank from already-computed logits.

    ``logits [L, N, V]`` (or ``[N, V]``, treated as ``L = 1``), ``gold [N]``.
    ``p = exp(z_gold - logsumexp(z))``; ``rank = 1 + #{v: z_v > z_gold}``.
    Computed in at least float32. ``softcap`` applies Gemma-2 style logit
    soft-capping ``z -> c * tanh(z / c)`` first (changes probabilities, not ranks).
    Returns ``LensStats`` with arrays of shape ``[L, N]``.
    """
    z = np.asarray(logits)
    if z.ndim == 2:
        z = z[None]
    if z.ndim != 3:
        raise ValueError(f"logits must be [L, N, V] or [N, V], got shape {np.shape(logits)}")
    L, N, V = z.shape
    g = _check_gold(gold, V)
    if g.shape != (N,):
        raise ValueError(f"gold must have shape [{N}], got {g.shape}")
    dt = np.result_type(z.dtype, np.float32)
    prob, rank, logit = _rows_stats(z.reshape(L * N, V).astype(dt, copy=False), np.tile(g, L), softcap)
    return LensStats(prob.reshape(L, N), rank.reshape(L, N), logit.reshape(L, N))


def median_rank_per_layer(ranks: np.ndarray) -> np.ndarray:
    """Median over facts of the gold rank at each layer: ``[L, N] -> [L]`` float64.

    Plain ``np.median`` (mean of the two middle ranks when N is even).
    """
    r = np.asarray(ranks)
    if r.ndim != 2:
        raise ValueError(f"ranks must be [L, N], got shape {r.shape}")
    return np.median(r, axis=1).astype(np.float64)


def first_layer_in_topk(ranks: np.ndarray, k: int) -> np.ndarray:
    """First layer index at which the gold token is in the top-k: ``[L, N] -> [N]``.

    Returns the smallest ``l`` with ``ranks[l, n] <= k`` (0-based layer index,
    in the order the caller stacked layers), or ``-1`` if that never happens.
    """
    r = np.asarray(ranks)
    if r.ndim != 2:
        raise ValueError(f"ranks must be [L, N], got shape {r.shape}")
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    hit = r <= k
    first = np.argmax(hit, axis=0)
    return np.where(hit.any(axis=0), first, -1).astype(np.int64)


def lens_signal_fraction(ranks: np.ndarray, k: int) -> float:
    """Fraction of facts whose gold token enters the top-k at some layer, in [0, 1]."""
    f = first_layer_in_topk(ranks, k)
    return float(np.mean(f >= 0)) if f.size else float("nan")


def lens_signal_ratio(ranks_reference: np.ndarray, ranks_quantized: np.ndarray, k: int) -> float:
    """``lens_signal_fraction(quantized) / lens_signal_fraction(reference)``.

    The ``lens_signal`` evidence of ``metrics.verdict``. ``nan`` when the
    reference fraction is 0 (the ratio is undefined; the verdict skips it).
    May exceed 1 when the quantized model surfaces more gold tokens.
    """
    ref = lens_signal_fraction(ranks_reference, k)
    q = lens_signal_fraction(ranks_quantized, k)
    if not ref > 0:
        return float("nan")
    return q / ref
