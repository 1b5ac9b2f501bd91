"""Activation-patching arithmetic (no model): sufficiency and necessity scores.

Follows paper 003, section 3.4: cross-model repair (patch an FP activation into
the quantized model: is the clean signal sufficient?) and zeroing ablation
(zero an activation: is it necessary?). The scores are defined on any scalar
outcome of the forward pass; the intended one is the gold token's logit (or its
log-probability; use the same quantity for all three arguments). Both functions
accept scalars or broadcastable arrays and return float64 (a Python float for
scalar inputs). Nothing is clipped: recovery can be negative (patching made it
worse) or exceed 1 (overshoot), necessity can be negative (ablation helped).
"""
from __future__ import annotations

import numpy as np

__all__ = ["recovery", "necessity"]


def _out(x):
    return float(x) if np.ndim(x) == 0 else x


def recovery(patched_logit, quant_logit, ref_logit):
    """Fraction of the reference-vs-quantized gap restored by patching (sufficiency).

    ``(patched - quant) / (ref - quant)``, unitless: 0 = no effect, 1 = fully
    restored to the reference value. When ``ref == quant`` exactly (no gap), the
    score is 1.0 if ``patched == ref`` and 0.0 otherwise. Equality is exact
    float comparison; near-zero gaps give large values (by design, unclipped),
    so callers should restrict aggregates to facts with a meaningful gap.
    """
    p = np.asarray(patched_logit, dtype=np.float64)
    q = np.asarray(quant_logit, dtype=np.float64)
    r = np.asarray(ref_logit, dtype=np.float64)
    gap = r - q
    zero = gap == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(zero, np.where(p == r, 1.0, 0.0), (p - q) / np.where(zero, 1.0, gap))
    return _out(val)


def necessity(ablated_logit, clean_logit):
    """Relative drop of the outcome when a node is zero-ablated (necessity).

    ``(clean - ablated) / |clean|``, unitless: 0 = no effect, 1 = a positive
    clean logit driven to 0, > 1 = driven below 0, < 0 = ablation raised it.
    When ``clean == 0`` exactly, the score is 0.0 if ``ablated == 0`` and NaN
    otherwise (a relative drop from 0 is undefined; aggregate with nanmean).
    """
    a = np.asarray(ablated_logit, dtype=np.float64)
    c = np.asarray(clean_logit, dtype=np.float64)
    zero = c == 0
    with np.errstate(divide="ignore", invalid="ignore"):
        val = np.where(zero, np.where(a == 0, 0.0, np.nan), (c - a) / np.where(zero, 1.0, np.abs(c)))
    return _out(val)
