"""Logit lens in torch: project each layer's residual (last prompt token) through the final norm and unembedding.

For layer l and fact i: z = W_U · norm(h_l,i) (then the model's logit softcap, if any);
p_gold = softmax(z)[gold], rank = 1 + #{v : z_v > z_gold}. At the last layer this is the
model's own next-token distribution.

Cost: L x N rows of a full-vocabulary matmul, as much work as the forward itself on a
small model. ``max_facts`` bounds it: the lens then runs on that many facts, evenly
spaced over the suite (the same facts for the reference and every recipe); the other
facts' entries are NaN (prob) and -1 (rank) and the per-layer medians skip them. The
default, 32, keeps the lens within the probe budget (docs/probes.md, "Cost"); 0 or None
covers every fact (``--qfacts-lens-facts=0``).
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics.lens import gold_stats_from_logits
from pytest_qfacts.metrics.sampling import evenly_spaced

DEFAULT_MAX_FACTS = 32


def lens_fact_indices(n: int, max_facts: int | None) -> np.ndarray:
    """Evenly spaced, deterministic indices of the facts the lens covers (``metrics.sampling``)."""
    return evenly_spaced(n, max_facts)


def lens_logits(layout, h):
    """The logit lens of hidden rows ``h`` [M, H] (torch): ``W_U norm(h)``, then the model's logit
    softcap if any, as float32 ``[M, V]``. At the last layer these are the model's own logits."""
    import torch

    weight = layout.unembed.weight
    x = h.to(device=weight.device, dtype=weight.dtype)
    x = layout.final_norm(x) if layout.final_norm is not None else x
    z = layout.unembed(x).float()
    if layout.softcap:
        z = torch.tanh(z / layout.softcap) * layout.softcap
    return z


def lens_gold_stats(layout, resid_last: np.ndarray, gold: np.ndarray, *, max_facts: int | None = DEFAULT_MAX_FACTS,
                    chunk_rows: int = 256):
    """Return (prob [L, N], rank [L, N]) of the gold token per layer; uncovered facts: NaN / -1.

    Logits from ``lens_logits``; probability and rank from ``metrics.lens.gold_stats_from_logits``.
    """
    import torch

    L, N, H = resid_last.shape
    keep = lens_fact_indices(N, max_facts)
    probs = np.full((L, N), np.nan)
    ranks = np.full((L, N), -1, np.int64)
    rows = np.ascontiguousarray(resid_last[:, keep].reshape(L * len(keep), H))
    gold_rows = np.tile(np.asarray(gold, dtype=np.int64)[keep], L)
    out_p = np.empty(len(rows))
    out_r = np.empty(len(rows), np.int64)
    with torch.inference_mode():
        for start in range(0, len(rows), chunk_rows):
            z = lens_logits(layout, torch.from_numpy(rows[start:start + chunk_rows])).cpu().numpy()
            stats = gold_stats_from_logits(z, gold_rows[start:start + chunk_rows])
            out_p[start:start + len(z)] = stats.prob[0]
            out_r[start:start + len(z)] = stats.rank[0]
    probs[:, keep] = out_p.reshape(L, len(keep))
    ranks[:, keep] = out_r.reshape(L, len(keep))
    return probs, ranks
