"""The residual-stream recording shared by ``lens``, ``cka`` and ``svd``.

``resid_last``, ``resid_subj`` [L, N, H] float32: each decoder layer's output (the residual
stream after the layer) at the last prompt token and at the last subject token.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.probes.base import Recording


def _allocate(ctx) -> dict:
    shape = (ctx.n_layers, ctx.n_items, ctx.hidden)
    return {"resid_last": np.zeros(shape, np.float32), "resid_subj": np.zeros(shape, np.float32)}


def _hooks(ctx) -> list:
    def layer_hook(l):
        def hook(module, args, output):
            h = output[0] if isinstance(output, tuple) else output
            b = ctx.batch
            ctx.arrays["resid_last"][l, b.index] = b.rows(h, "last").float().cpu().numpy()
            ctx.arrays["resid_subj"][l, b.index] = b.rows(h, "subj").float().cpu().numpy()
        return hook

    return [(ctx.layout.layers[l], "forward", layer_hook(l)) for l in range(ctx.n_layers)]


RESIDUAL = Recording("residual", _allocate, _hooks)
#: how the residual stream is stored: truncated SVD per layer with a bounded CKA error (store/compress.py)
RESIDUAL_STORAGE = {"resid_last": "svd", "resid_subj": "svd"}
RESIDUAL_ARRAYS = ("resid_last", "resid_subj")
