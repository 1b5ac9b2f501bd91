"""Recall metrics: gold-token ranks, accuracy, median rank, exact McNemar test.

Pure numpy and the standard library; no torch.

Rank of a gold token ``t`` in a logit vector (1-based)::

    rank(t) = 1 + #{v : logits[v] > logits[t]}

Ties favour the gold token: a token whose logit equals the gold logit does not
push the gold token down, so a gold token tied for the top has rank 1. With
several gold ids (aliases, alternative first tokens) the best (smallest) rank
counts. A NaN gold logit ranks last (``V``); NaN elsewhere never outranks the
gold token (NaN comparisons are false).

Exact two-sided McNemar test on the discordant pairs of a paired comparison
(``b`` = facts lost, ``c`` = facts gained, ``n = b + c``)::

    p = min(1, 2 * sum_{i=0}^{min(b,c)} C(n, i) / 2**n),   p = 1 when n == 0
"""
from __future__ import annotations

import math
import operator
from collections.abc import Sequence

import numpy as np

_BLOCK = 1 << 24  # elements compared at once in ranks_from_logits


def gold_rank(logits: np.ndarray, token_ids: Sequence[int]) -> int:
    """1-based rank of the best of ``token_ids`` in the 1-D ``logits`` (see module doc)."""
    logits = np.asarray(logits)
    if logits.ndim != 1:
        raise ValueError(f"logits must be 1-D [V], got shape {logits.shape}")
    ids = [operator.index(t) for t in np.atleast_1d(np.asarray(token_ids)).tolist()]
    if not ids:
        raise ValueError("token_ids is empty: give at least one gold token id")
    if any(not 0 <= t < logits.shape[0] for t in ids):
        raise ValueError(f"token ids {ids} out of range for a vocabulary of {logits.shape[0]}")
    best = None
    for t in ids:
        g = logits[t]
        r = logits.shape[0] if np.isnan(g) else 1 + int(np.count_nonzero(logits > g))
        best = r if best is None else min(best, r)
    assert best is not None  # ids is not empty (checked above)
    return best


def ranks_from_logits(logits: np.ndarray, gold: np.ndarray) -> np.ndarray:
    """Vectorised ``gold_rank``: ``logits`` [N, V], ``gold`` [N] -> ranks [N] (int64).

    ``gold`` may also be [N, K] (several gold ids per row, padded with -1);
    the best rank over each row's ids counts. Every row needs one id >= 0.
    """
    logits = np.asarray(logits)
    gold = np.asarray(gold)
    if logits.ndim != 2:
        raise ValueError(f"logits must be 2-D [N, V], got shape {logits.shape}")
    if gold.ndim == 1:
        gold = gold[:, None]
    if gold.ndim != 2 or gold.shape[0] != logits.shape[0]:
        raise ValueError(f"gold must be [N] or [N, K] with N={logits.shape[0]}, got {gold.shape}")
    if not np.issubdtype(gold.dtype, np.integer):
        raise ValueError(f"gold token ids must be integers, got dtype {gold.dtype}")
    if (gold >= logits.shape[1]).any():
        raise ValueError(f"gold token ids out of range for a vocabulary of {logits.shape[1]}")
    valid = gold >= 0
    if not valid.any(axis=1).all():
        raise ValueError("every row of gold needs at least one token id >= 0")
    n, v = logits.shape
    out = np.empty(n, dtype=np.int64)
    step = max(1, _BLOCK // max(v * gold.shape[1], 1))
    for s in range(0, n, step):
        lg, gd, ok = logits[s:s + step], gold[s:s + step], valid[s:s + step]
        g = np.take_along_axis(lg, np.where(ok, gd, 0), axis=1)            # [B, K]
        above = (lg[:, None, :] > g[:, :, None]).sum(axis=2) if gd.shape[1] > 1 \
            else (lg > g).sum(axis=1, keepdims=True)                      # [B, K]
        r = np.where(np.isnan(g), v, 1 + above)
        r = np.where(ok, r, np.iinfo(np.int64).max)
        out[s:s + step] = r.min(axis=1)
    return out


def mcnemar_exact(lost: int, gained: int) -> float:
    """Exact two-sided McNemar p-value for ``lost`` (b) and ``gained`` (c) discordant pairs.

    ``p = min(1, 2 * P[X <= min(b, c)])`` with ``X ~ Binomial(b + c, 1/2)``;
    ``p = 1`` when ``b + c == 0``. Exact integer arithmetic (fast for b + c up to
    tens of thousands); results below ~1e-308 underflow to 0.0.
    """
    b, c = operator.index(lost), operator.index(gained)
    if b < 0 or c < 0:
        raise ValueError(f"counts must be >= 0, got lost={b}, gained={c}")
    n, k = b + c, min(b, c)
    if n == 0 or 2 * k >= n:  # b == c: the tail holds at least half the mass
        return 1.0
    term, total = 1, 1  # C(n, 0)
    for i in range(k):
        term = term * (n - i) // (i + 1)  # C(n, i + 1), exact
        total += term
    return min(1.0, (2 * total) / (1 << n))  # int / int is correctly rounded


def accuracy(correct) -> float:
    """Fraction of true values; 0.0 for an empty array."""
    a = np.asarray(correct, dtype=bool)
    return float(a.mean()) if a.size else 0.0


def median_rank(ranks) -> float:
    """Median of ``ranks`` (mean of the two middle values for an even count); NaN if empty."""
    r = np.asarray(ranks)
    return float(np.median(r)) if r.size else math.nan
