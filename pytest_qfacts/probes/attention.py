"""Probe ``attention``: the subject token's attention, entropy and JSD per layer (paper 003, appendix B).

Switches the model to eager attention for the pass and records, per layer l, the attention
of the last subject token over the real tokens up to it, ragged over facts:
``attn.{l}.data`` [heads, sum of key counts] float32, ``attn.{l}.len`` [N] key counts
(0 for a fact whose layer gave no weights), facts in order.

Report: ``layers.attention_layers``, ``layers.attention_entropy_reference|quantized``
(normalised entropy), ``layers.attention_jsd`` (Jensen-Shannon divergence); formulas in
``metrics/attention.py``.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import attention
from pytest_qfacts.probes.base import Probe, ProbeBlock, Recording


def _allocate(ctx) -> dict:
    ctx.scratch["attention"] = {l: {} for l in range(ctx.n_layers) if ctx.layout.attn[l] is not None}
    return {}


def _hooks(ctx) -> list:
    store = ctx.scratch["attention"]

    def hook_for(l):
        def hook(module, args, output):
            if not isinstance(output, tuple) or len(output) < 2 or output[1] is None:
                return
            probs = output[1]  # [B, heads, T, T]
            b = ctx.batch
            subj = b.positions("subj")
            rows = probs[np.arange(probs.shape[0]), :, subj]  # [B, heads, T]
            for i, index in enumerate(b.index):  # the valid keys only: real tokens up to the query
                store[l][int(index)] = rows[i, :, b.start[i]: subj[i] + 1].float().cpu().numpy()
        return hook

    return [(ctx.layout.attn[l], "forward", hook_for(l)) for l in store]


def _finish(ctx, scores) -> dict:
    """Ragged per-layer weights -> ``attn.{l}.data`` / ``attn.{l}.len`` arrays (facts in order)."""
    out = {}
    for l, per_fact in ctx.scratch["attention"].items():
        if not per_fact:
            continue
        lens = np.array([per_fact[i].shape[1] if i in per_fact else 0 for i in range(ctx.n_items)], np.int32)
        out[f"attn.{l}.len"] = lens
        out[f"attn.{l}.data"] = np.ascontiguousarray(np.concatenate([per_fact[i] for i in sorted(per_fact)], axis=1),
                                                     dtype=np.float32)
    return out


def _layers(run) -> list[int]:
    return sorted(int(k.split(".")[1]) for k in run.arrays if k.startswith("attn.") and k.endswith(".len"))


def _padded(run, l: int) -> tuple[np.ndarray, np.ndarray]:
    """``attn.{l}`` as ([N, heads, Kmax] right-padded, mask [N, Kmax])."""
    lens, data = run.arrays[f"attn.{l}.len"], run.arrays[f"attn.{l}.data"]
    heads, width = data.shape[0], int(lens.max()) if lens.size else 0
    arr = np.zeros((len(lens), heads, width))
    mask = np.zeros((len(lens), width), bool)
    ends = np.cumsum(lens)
    for i, (n, e) in enumerate(zip(lens, ends)):
        arr[i, :, :n] = data[:, e - n: e]
        mask[i, :n] = True
    return arr, mask


def _compare(ref, quant) -> ProbeBlock:
    chosen = [l for l in _layers(ref) if l in set(_layers(quant))]
    if not chosen:
        return ProbeBlock()
    padded_ref = [_padded(ref, l) for l in chosen]
    padded_quant = [_padded(quant, l)[0] for l in chosen]
    mask = padded_ref[0][1]   # the same keys at every layer: the prompt up to the subject
    ref_layers = [a for a, _ in padded_ref]
    return ProbeBlock({"attention_layers": chosen,
                       "attention_entropy_reference": attention.attention_entropy_per_layer(ref_layers, mask).tolist(),
                       "attention_entropy_quantized": attention.attention_entropy_per_layer(padded_quant, mask).tolist(),
                       "attention_jsd": attention.attention_jsd_per_layer(ref_layers, padded_quant, mask).tolist()})


PROBE = Probe(
    name="attention", summary="attention entropy and JSD of the subject token per layer (eager attention)",
    recordings=(Recording("attention", _allocate, _hooks, eager_attention=True),),
    storage={"attn.": "raw"}, finish=_finish, compare=_compare,
)
