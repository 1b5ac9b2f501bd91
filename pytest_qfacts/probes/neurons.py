"""Probe ``neurons``: knowledge-neuron contributions to the gold token (paper 001, "Key Designs" 1-2).

Records at the last prompt token, per fact and layer (formulas in ``metrics/neurons.py``):
  ``neuron_contrib`` [N, L, D] float32   c = a_j * (W_down[:, j] . g * u_gold), in float32
                                         (``metrics.neurons.down_proj_dot_gold`` and
                                         ``neuron_contributions``, computed in the hook)
  ``attn_gold``, ``mlp_gold`` [N, L]     attention / MLP output . (g * u_gold)
with ``u_gold`` the unembedding row of the first gold token and ``g`` the final norm's weight.

Report: ``neurons.tau`` (median over facts of the reference's 300th largest contribution),
``neurons.retained`` (quantized neurons >= tau inside the reference's top set, mean per fact),
``neurons.retained_fraction``, ``neurons.retained_anywhere`` (anywhere in the model),
``neurons.reference_count``; ``layers.ffn_contribution_*``, ``layers.attn_contribution_*``
(reference, quantized, drop). Assertion: ``assert_top_neurons_retained``.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import neurons
from pytest_qfacts.probes.base import Probe, ProbeBlock, ProbeGateFailure, Recording, header, need_block

WORST_LAYERS_SHOWN = 5  # layers named in a failure message


def _allocate(ctx) -> dict:
    N, L = ctx.n_items, ctx.n_layers
    # the hooks keep the activations and the gold readout rows; finish() turns them into contributions
    return {"neuron_contrib": np.zeros((N, L, ctx.d_ff), np.float32), "attn_gold": np.zeros((N, L), np.float32),
            "mlp_gold": np.zeros((N, L), np.float32), "neurons.u_gold": np.zeros((N, ctx.hidden), np.float32)}


def _hooks(ctx) -> list:
    def down_hook(l):
        def hook(module, args):
            b = ctx.batch
            ctx.arrays["neuron_contrib"][b.index, l] = b.rows(args[0], "last").float().cpu().numpy()  # a, for now
            if l == 0:
                ctx.arrays["neurons.u_gold"][b.index] = b.u_gold().cpu().numpy()
        return hook

    def projection_hook(l, name):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            b = ctx.batch
            ctx.arrays[name][b.index, l] = (b.rows(out, "last").float() * b.u_gold()).sum(-1).cpu().numpy()
        return hook

    lay, hooks = ctx.layout, []
    for l in range(ctx.n_layers):
        hooks += [(lay.down[l], "pre", down_hook(l)), (lay.mlp[l], "forward", projection_hook(l, "mlp_gold"))]
        if lay.attn[l] is not None:
            hooks.append((lay.attn[l], "forward", projection_hook(l, "attn_gold")))
    return hooks


def _finish(ctx, scores) -> dict:
    """Contributions from the recorded activations, after the forward (BLAS free to use every core):
    ``neuron_contributions(a, down_proj_dot_gold(W_down, g * u_gold))`` per layer, in place."""
    act, u = ctx.arrays["neuron_contrib"], ctx.arrays.pop("neurons.u_gold")
    for l in range(ctx.n_layers):
        w = ctx.dense_weight(ctx.layout.down[l])  # [out, in]; dequantized when a library quantized the layer
        w = (w if w.shape[0] == ctx.hidden else w.T).detach().float().cpu().numpy()
        dot = neurons.down_proj_dot_gold([w], u)                                   # [N, 1, D]
        act[:, l] = neurons.neuron_contributions(act[:, l:l + 1], dot)[:, 0]
    return {}


def _compare(ref, quant) -> ProbeBlock:
    rc, qc = ref.arrays["neuron_contrib"], quant.arrays["neuron_contrib"]
    tau = neurons.top_neuron_threshold(rc)
    count = neurons.effective_top(rc.shape[1] * rc.shape[2])
    retained = neurons.retained_count(qc, tau, within=neurons.top_neuron_mask(rc))
    block = {"tau": float(np.median(tau)), "reference_count": int(count), "retained": float(np.mean(retained)),
             "retained_fraction": float(np.mean(retained) / count),
             "retained_anywhere": float(np.mean(neurons.retained_count(qc, tau)))}
    r, q = ref.arrays, quant.arrays
    layers = {
        "ffn_contribution_reference": neurons.layer_contribution(r["mlp_gold"]).tolist(),
        "ffn_contribution_quantized": neurons.layer_contribution(q["mlp_gold"]).tolist(),
        "attn_contribution_reference": neurons.layer_contribution(r["attn_gold"]).tolist(),
        "attn_contribution_quantized": neurons.layer_contribution(q["attn_gold"]).tolist(),
        "ffn_contribution_drop": neurons.contribution_drop(r["mlp_gold"], q["mlp_gold"]).tolist(),
        "attn_contribution_drop": neurons.contribution_drop(r["attn_gold"], q["attn_gold"]).tolist(),
    }
    return ProbeBlock(layers, block)


def assert_top_neurons_retained(result, min_fraction: float = 0.5) -> None:
    """Fail unless, per fact on average, at least ``min_fraction`` of the reference's top-300
    knowledge neurons keep a contribution >= tau in the quantized model (probe ``neurons``)."""
    block = need_block(result, "neurons", None, "neurons")
    if block["retained_fraction"] >= min_fraction:
        return
    lines = [f"qfacts: knowledge neurons lost for {header(result)}",
             f"  retained {block['retained']:.1f} of the reference's top {block['reference_count']} neurons per fact "
             f"({block['retained_fraction']:.1%} < min_fraction {min_fraction:.1%}; tau = {block['tau']:.3g}, "
             "median over facts)"]
    layers = result.layers
    if "ffn_contribution_reference" in layers:
        drops = [(l, r - q) for l, (r, q) in enumerate(zip(layers["ffn_contribution_reference"],
                                                            layers["ffn_contribution_quantized"]))]
        worst = sorted(drops, key=lambda p: p[1], reverse=True)[:WORST_LAYERS_SHOWN]
        lines.append("  layers whose FFN contribution to the gold logit fell most: "
                     + ", ".join(f"layer {l}: -{d:.3g}" for l, d in worst))
    raise ProbeGateFailure("\n".join(lines))


PROBE = Probe(
    name="neurons", summary="knowledge-neuron contributions to the gold logit; attention vs FFN per layer",
    recordings=(Recording("neurons", _allocate, _hooks),), storage={}, finish=_finish, compare=_compare,
    assertion=assert_top_neurons_retained, arrays=("neuron_contrib", "attn_gold", "mlp_gold"),
)
