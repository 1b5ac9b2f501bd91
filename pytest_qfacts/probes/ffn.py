"""Probe ``ffn``: the FFN at the last subject token (paper 003, section 3.3 and appendix B).

Records, per layer and fact: ``gate_sign_subj`` [L, N, D] int8 (sign of the gate
pre-activation), ``inter_top_subj`` [L, N, k] (indices of the top-1% |intermediate
activation|, ``k = metrics.ffn.topk_count(D)``), ``mlp_out_subj`` [L, N, H] (MLP output).

Report: ``layers.gate_flip_rate`` (fraction of neurons whose gate sign flips),
``layers.ffn_top1pct_jaccard`` (Jaccard of the top-1% sets), ``layers.mlp_output_cosine``;
evidence ``gate_flip_rate_mean``. Formulas in ``metrics/ffn.py``.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import ffn
from pytest_qfacts.probes.base import Probe, ProbeBlock, Recording

TOP_FRACTION = 0.01  # the "top-1%" neurons


def _allocate(ctx) -> dict:
    L, N = ctx.n_layers, ctx.n_items
    k = ffn.topk_count(ctx.d_ff, TOP_FRACTION)
    return {"gate_sign_subj": np.zeros((L, N, ctx.d_ff), np.int8), "inter_top_subj": np.zeros((L, N, k), np.int32),
            "mlp_out_subj": np.zeros((L, N, ctx.hidden), np.float32)}


def _hooks(ctx) -> list:
    import torch

    k = ffn.topk_count(ctx.d_ff, TOP_FRACTION)

    def gate_hook(l):
        def hook(module, args, output):
            b = ctx.batch
            ctx.arrays["gate_sign_subj"][l, b.index] = np.sign(b.rows(output, "subj").float().cpu().numpy()).astype(np.int8)
        return hook

    def mlp_hook(l):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            b = ctx.batch
            ctx.arrays["mlp_out_subj"][l, b.index] = b.rows(out, "subj").float().cpu().numpy()
        return hook

    def down_hook(l):
        def hook(module, args):
            b = ctx.batch
            top = torch.topk(b.rows(args[0], "subj").float().abs(), k, dim=-1).indices
            ctx.arrays["inter_top_subj"][l, b.index] = top.cpu().numpy()
        return hook

    lay = ctx.layout
    out = []
    for l in range(ctx.n_layers):
        out += [(lay.gate[l], "forward", gate_hook(l)), (lay.mlp[l], "forward", mlp_hook(l)),
                (lay.down[l], "pre", down_hook(l))]
    return out


def _compare(ref, quant) -> ProbeBlock:
    r, q = ref.arrays, quant.arrays
    layers = {
        "gate_flip_rate": ffn.gate_sign_flip_rate(r["gate_sign_subj"], q["gate_sign_subj"]).tolist(),
        "ffn_top1pct_jaccard": ffn.index_set_jaccard(r["inter_top_subj"], q["inter_top_subj"]).mean(axis=1).tolist(),
        "mlp_output_cosine": ffn.output_cosine(r["mlp_out_subj"], q["mlp_out_subj"]).tolist(),
    }
    return ProbeBlock(layers, None, {"gate_flip_rate_mean": float(np.mean(layers["gate_flip_rate"]))})


PROBE = Probe(
    name="ffn", summary="gate sign flips, top-1% neuron Jaccard and MLP output cosine at the subject, per layer",
    recordings=(Recording("ffn", _allocate, _hooks),),
    storage={"gate_sign_subj": "signs", "inter_top_subj": "int16", "mlp_out_subj": "float16"},
    compare=_compare, arrays=("gate_sign_subj", "inter_top_subj", "mlp_out_subj"),
)
