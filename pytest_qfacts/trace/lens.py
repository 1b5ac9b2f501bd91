"""Logit lens in torch: project each layer's residual (last prompt token) through the final norm and unembedding.

For layer l and fact i: z = W_U · norm(h_l,i) (+ softcap as the model does), then
p_gold = softmax(z)[gold], rank = 1 + #{v : z_v > z_gold}. At the last layer this is
the model's own next-token distribution. Chunked over rows to bound memory.
"""
from __future__ import annotations

import numpy as np


def lens_gold_stats(layout, resid_last: np.ndarray, gold: np.ndarray, *, chunk_rows: int = 256):
    """Return (prob [L, N], rank [L, N]) of the gold token per layer."""
    import torch

    L, N, H = resid_last.shape
    weight = layout.unembed.weight
    device, dtype = weight.device, weight.dtype
    flat = torch.from_numpy(resid_last.reshape(L * N, H))
    gold_flat = torch.from_numpy(np.tile(np.asarray(gold, dtype=np.int64), L))
    probs = np.empty(L * N, np.float64)
    ranks = np.empty(L * N, np.int64)
    with torch.inference_mode():
        for start in range(0, L * N, chunk_rows):
            h = flat[start:start + chunk_rows].to(device=device, dtype=dtype)
            if layout.final_norm is not None:
                h = layout.final_norm(h)
            z = layout.unembed(h).float()
            if layout.softcap:
                z = torch.tanh(z / layout.softcap) * layout.softcap
            g = gold_flat[start:start + chunk_rows].to(device)
            zg = z.gather(1, g[:, None])
            ranks[start:start + len(g)] = ((z > zg).sum(1) + 1).cpu().numpy()
            probs[start:start + len(g)] = torch.softmax(z, 1).gather(1, g[:, None]).squeeze(1).double().cpu().numpy()
    return probs.reshape(L, N), ranks.reshape(L, N)
