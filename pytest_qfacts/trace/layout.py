"""Finding the parts of a decoder-only model by structure, not by architecture name.

The decoder layers are the longest ``nn.ModuleList`` of same-class modules. Inside
a layer, the attention, MLP, gate and down projections are found by the first
matching relative name in ``PARTS`` (the only per-architecture knowledge, one small
table): Llama, Qwen2/3, Mistral and Gemma 2 use ``self_attn``/``mlp.gate_proj``/
``mlp.down_proj``; Phi ``mlp.fc1``/``mlp.fc2``; GPT-2 ``attn``/``mlp.c_fc``/``mlp.c_proj``;
OPT ``self_attn``/``fc1``/``fc2`` with no MLP module (its MLP output is ``fc2``'s).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

PARTS: dict[str, tuple[str, ...]] = {
    "attn": ("self_attn", "attn", "attention", "self_attention"),
    "mlp": ("mlp", "feed_forward", "ffn", "fc2"),
    "gate": ("mlp.gate_proj", "mlp.w1", "mlp.c_fc", "mlp.fc1", "mlp.dense_h_to_4h", "fc1"),
    "down": ("mlp.down_proj", "mlp.w2", "mlp.c_proj", "mlp.fc2", "mlp.dense_4h_to_h", "fc2"),
}
FINAL_NORMS = ("model.norm", "model.final_layernorm", "transformer.ln_f", "model.decoder.final_layer_norm",
               "gpt_neox.final_layer_norm", "transformer.norm_f")


@dataclass
class Layout:
    layer_prefix: str            # e.g. "model.layers"
    layers: list[Any]
    attn: list[Any]
    mlp: list[Any]
    gate: list[Any]
    down: list[Any]
    final_norm: Any
    unembed: Any                 # the output embedding (lm_head)
    softcap: float | None = None

    @property
    def n_layers(self) -> int:
        return len(self.layers)


def _get(module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part, None)
        if module is None:
            return None
    return module


def _first(module, names: tuple[str, ...]):
    for name in names:
        found = _get(module, name)
        if found is not None:
            return found
    return None


def find_layers(model) -> tuple[str, list]:
    import torch.nn as nn

    best_name = ""
    best: list = []
    for name, module in model.named_modules():
        if (isinstance(module, nn.ModuleList) and len(module) > len(best)
                and len({type(child) for child in module}) == 1):
            best_name, best = name, list(module)
    if not best:
        raise ValueError(f"{type(model).__name__}: no stack of decoder layers (an nn.ModuleList of one module class) found")
    return best_name, best


def discover(model) -> Layout:
    """The layout of ``model``; raises ValueError naming what is missing."""
    prefix, layers = find_layers(model)
    parts = {key: [_first(layer, names) for layer in layers] for key, names in PARTS.items()}
    for key in ("mlp", "gate", "down"):
        if any(p is None for p in parts[key]):
            raise ValueError(f"{type(model).__name__}: no '{key}' module in {prefix}[i] (tried {', '.join(PARTS[key])})")
    final_norm = _first(model, FINAL_NORMS)
    unembed = model.get_output_embeddings()
    softcap = getattr(getattr(model, "config", None), "final_logit_softcapping", None)
    return Layout(prefix, layers, parts["attn"], parts["mlp"], parts["gate"], parts["down"], final_norm, unembed, softcap)
