"""Divergence of the quantized model's next-token distribution from the reference's.

For one prompt, ``z_ref`` and ``z_q`` are the full-vocabulary logits ``[V]`` at
the last prompt position, ``log p = log_softmax(z_ref)``, ``log q = log_softmax(z_q)``:

    KL(p || q) = sum_v p_v (log p_v - log q_v)        (nats, >= 0, 0 iff p == q)

``next_token_kl`` returns it per row of ``[N, V]`` arrays; ``mean_next_token_kl``
the mean over the N prompts. Arithmetic in float64; ``log_softmax`` subtracts the
row maximum first, so large logits do not overflow. Terms with ``p_v = 0``
(underflow) contribute 0.
"""
from __future__ import annotations

import numpy as np


def log_softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def next_token_kl(reference_logits, quantized_logits) -> np.ndarray:
    """KL(p_ref || p_quant) per row, in nats; inputs ``[N, V]`` (or ``[V]`` for one prompt)."""
    ref = np.asarray(reference_logits)
    quant = np.asarray(quantized_logits)
    if ref.shape != quant.shape:
        raise ValueError(f"next_token_kl: reference logits {ref.shape} and quantized logits {quant.shape} differ in shape")
    log_p, log_q = log_softmax(ref), log_softmax(quant)
    p = np.exp(log_p)
    kl = np.where(p > 0, p * (log_p - log_q), 0.0).sum(axis=-1)
    return np.maximum(kl, 0.0)  # rounding can leave -1e-17 for identical rows


def mean_next_token_kl(reference_logits, quantized_logits) -> float:
    """The mean over prompts of ``next_token_kl``."""
    return float(np.mean(next_token_kl(reference_logits, quantized_logits)))
