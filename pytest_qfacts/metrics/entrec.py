"""Two-hop metrics (Yang et al. 2024, "Do LLMs latently perform multi-hop reasoning?", as used in 001).

Pure numpy; no torch. Notation: a two-hop item e1 -r1-> e2 -r2-> e3 with the prompts
r1(e1) (answer e2), r2(e2) (answer e3) and the two-hop prompt r2(r1(e1)) (answer e3).

EntRec (entity recall of the bridge e2) at layer l::

    EntRec_l = log softmax(W_U · norm(h_l))[t(e2)]

h_l: the decoder layer l output at the last token of the descriptive mention of e2 in
the two-hop prompt; norm, W_U: the model's final norm and unembedding (logit lens);
t(e2): e2's first token. Nats, <= 0; higher = the bridge is recalled more strongly.

CnstScore (consistency of the two-hop and the one-hop output distributions)::

    CnstScore = -1/2 · (CE(π_2H, π_1H) + CE(π_1H, π_2H)),   CE(p, q) = -Σ_v p_v log q_v

π_2H, π_1H: the next-token distributions at the last token of r2(r1(e1)) and of r2(e2).
Nats, <= 0 (it is minus the mean of the two cross-entropies, each >= the entropy);
higher = more consistent.

Spearman correlation of first-hop and two-hop degradation across relation pairs
(compositions; and recipes when several run)::

    d1_c = acc_ref(r1(e1))_c - acc_quant(r1(e1))_c,   d2_c = acc_ref(r2(r1(e1)))_c - acc_quant(r2(r1(e1)))_c
    rho = Pearson(rank(d1), rank(d2))     (ties get their average rank)

undefined (NaN) with fewer than 3 points or when either side is constant.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """log softmax in float64, stable: z - max - log Σ exp(z - max)."""
    z = np.asarray(logits, dtype=np.float64)
    shifted = z - np.max(z, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def entrec(lens_logits: np.ndarray, e2_ids: np.ndarray) -> np.ndarray:
    """EntRec from lens logits ``[..., N, V]`` (W_U · norm(h) per item) and e2's first token ``[N]`` -> ``[..., N]``."""
    lens_logits = np.asarray(lens_logits)
    e2_ids = np.asarray(e2_ids, dtype=np.int64)
    if lens_logits.shape[-2] != e2_ids.shape[0]:
        raise ValueError(f"lens logits have {lens_logits.shape[-2]} items, e2 ids {e2_ids.shape[0]}")
    lp = log_softmax(lens_logits)
    index = np.broadcast_to(e2_ids[:, None], (*lp.shape[:-1], 1))
    return np.take_along_axis(lp, index, axis=-1)[..., 0]


def cross_entropy(p_logits: np.ndarray, q_logits: np.ndarray) -> np.ndarray:
    """CE(p, q) = -Σ_v p_v log q_v with p = softmax(p_logits), q = softmax(q_logits); rows ``[N, V]`` -> ``[N]``."""
    lp, lq = log_softmax(p_logits), log_softmax(q_logits)
    return -np.sum(np.exp(lp) * lq, axis=-1)


def cnstscore(two_hop_logits: np.ndarray, one_hop_logits: np.ndarray) -> np.ndarray:
    """CnstScore per item: -(CE(π_2H, π_1H) + CE(π_1H, π_2H)) / 2, from next-token logits ``[N, V]``."""
    if np.shape(two_hop_logits) != np.shape(one_hop_logits):
        raise ValueError(f"logit shapes differ: {np.shape(two_hop_logits)} vs {np.shape(one_hop_logits)}")
    return -0.5 * (cross_entropy(two_hop_logits, one_hop_logits) + cross_entropy(one_hop_logits, two_hop_logits))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank (scipy's ``rankdata(method='average')``)."""
    values = np.asarray(values, dtype=np.float64)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    sorted_values = values[order]
    start = 0
    while start < len(values):
        end = start
        while end + 1 < len(values) and sorted_values[end + 1] == sorted_values[start]:
            end += 1
        ranks[order[start:end + 1]] = (start + end) / 2 + 1
        start = end + 1
    return ranks


def spearman_rho(x, y) -> float:
    """Spearman's rho: the Pearson correlation of the average ranks (own implementation).

    NaN when there are fewer than 3 points, when either side is constant or has a NaN.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"x and y must be 1-D of one length, got {x.shape} and {y.shape}")
    if len(x) < 3 or np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    rx, ry = average_ranks(x) - (len(x) + 1) / 2, average_ranks(y) - (len(y) + 1) / 2
    den = np.sqrt(np.sum(rx * rx) * np.sum(ry * ry))
    return float(np.sum(rx * ry) / den) if den > 0 else float("nan")


def spearman(x, y) -> float:
    """Spearman's rho with scipy when it is installed (same definition), else ``spearman_rho``."""
    rho = spearman_rho(x, y)
    if np.isnan(rho):
        return rho
    try:
        from scipy.stats import spearmanr
    except ImportError:
        return rho
    return float(spearmanr(np.asarray(x, float), np.asarray(y, float)).statistic)


def degradation(reference: ArrayLike, quantized: ArrayLike) -> np.ndarray:
    """Accuracy drop per group: reference - quantized (positive = the quantized model lost recall)."""
    return np.asarray(reference, dtype=np.float64) - np.asarray(quantized, dtype=np.float64)


def group_means(values: np.ndarray, groups: list) -> tuple[list, np.ndarray]:
    """Mean of ``values [L, N]`` (or ``[N]``) over the items of each group label -> (labels in first-seen order, ``[G, L]``)."""
    values = np.asarray(values, dtype=np.float64)
    labels = list(dict.fromkeys(groups))
    position = {label: k for k, label in enumerate(labels)}
    index = np.array([position[g] for g in groups], dtype=np.int64)
    flat = values.reshape(-1, values.shape[-1])  # [L, N]
    sums = np.zeros((len(labels), flat.shape[0]))
    np.add.at(sums, index, flat.T)
    counts = np.bincount(index, minlength=len(labels))[:, None]
    means = sums / counts
    return labels, means if values.ndim > 1 else means[:, 0]
