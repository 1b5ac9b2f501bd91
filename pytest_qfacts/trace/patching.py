"""Activation patching across models: cross-model repair (sufficiency) and zeroing ablation (necessity).

Paper 003, section 3.4. For a bounded subset of facts, each requested decoder layer l
and each position p (``"subject"``: the subject's last token; ``"last"``: the prompt's
last token), with ``h_l[p]`` the residual stream after layer l (the layer's output):

* sufficiency (cross-model repair): run the QUANTIZED model with ``h_l[p]`` replaced by
  the REFERENCE model's value (recorded in one clean reference forward) and read the
  gold first-token logit z at the last prompt token:
  ``recovery = (z_patched - z_quant) / (z_ref - z_quant)`` (``metrics.patching.recovery``);
* necessity (zeroing ablation): run the REFERENCE model with ``h_l[p] = 0`` and
  ``necessity = (z_ref - z_ablated) / |z_ref|`` (``metrics.patching.necessity``).

Only the prompt is fed (the gold logit is read at its last token, so object tokens
would not change it); facts are left padded with position ids ``cumsum(mask) - 1`` as in
the scorer, so a fact's scores do not depend on its batch. A fact without a subject
span uses its last prompt token for ``"subject"`` (``has_subject`` is False for it).
Only the patched rows are kept from the clean reference forward
([layers, positions, batch, hidden] floats, never [batch, sequence, hidden] per layer).

Subset: at most ``max_facts`` facts, evenly spaced over ``items``
(``np.unique(np.linspace(0, n - 1, max_facts).round())``: deterministic, the same facts
for every recipe).

Cost: ``forwards = B * (2 + 2 * L' * P)`` forward passes of at most ``batch_size``
prompts, with ``F = min(n, max_facts)`` facts, ``B = ceil(F / batch_size)`` batches
(1 with the defaults), ``L'`` requested layers and ``P`` positions: per batch one
clean forward of each model plus, per (layer, position), one patched forward of the
quantized model and one ablated forward of the reference. All layers and both
positions of a 32-layer model: 130 forwards of 16 prompts.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass

import numpy as np

from pytest_qfacts.metrics.patching import necessity as _necessity
from pytest_qfacts.metrics.patching import recovery as _recovery

POSITIONS = ("subject", "last")
DEFAULT_MAX_FACTS = 16

__all__ = ["POSITIONS", "DEFAULT_MAX_FACTS", "PatchingResult", "patching_fact_indices", "patching_forwards",
           "patching_scan"]


@dataclass
class PatchingResult:
    fact_indices: np.ndarray     # [F] indices into ``items``
    layers: np.ndarray           # [L'] decoder-layer indices (non-negative)
    positions: tuple[str, ...]   # P names, in the order of the first axis below
    recovery: np.ndarray         # [P, L', F] sufficiency (unclipped)
    necessity: np.ndarray        # [P, L', F] necessity (NaN where the clean logit is exactly 0)
    ref_logit: np.ndarray        # [F] clean reference gold first-token logit
    quant_logit: np.ndarray      # [F] clean quantized gold first-token logit
    patched_logit: np.ndarray    # [P, L', F] quantized model, reference row patched in
    ablated_logit: np.ndarray    # [P, L', F] reference model, row zeroed
    has_subject: np.ndarray      # [F] False: no subject span, "subject" fell back to the last token
    forwards: int                # model forward calls made
    seconds: float               # wall time of the scan

    def summary(self) -> dict:
        """Per-position, per-layer medians over facts (NaN-safe; all-NaN -> None), JSON-ready."""
        out = {"facts": int(len(self.fact_indices)), "forwards": int(self.forwards), "seconds": float(self.seconds),
               "layers": [int(l) for l in self.layers], "positions": list(self.positions)}
        for name, values in (("recovery", self.recovery), ("necessity", self.necessity)):
            for p, pos in enumerate(self.positions):
                out[f"{name}_{pos}"] = _medians(values[p])
        return out


def _medians(values: np.ndarray) -> list:
    """NaN-safe median of each row of [L', F]; None where a row has no finite value (or F == 0)."""
    if values.shape[-1] == 0:
        return [None] * values.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values.astype(np.float64), axis=-1)
    return [None if np.isnan(m) else float(m) for m in med]


def patching_fact_indices(n: int, max_facts: int | None) -> np.ndarray:
    """Evenly spaced, deterministic indices of at most ``max_facts`` of ``n`` facts."""
    if max_facts is not None and max_facts < 1:
        raise ValueError(f"max_facts must be >= 1, got {max_facts}")
    if max_facts is None or n <= max_facts:
        return np.arange(n, dtype=np.int64)
    return np.unique(np.linspace(0, n - 1, max_facts).round().astype(np.int64))


def patching_forwards(n_facts: int, n_layers: int, n_positions: int, batch_size: int) -> int:
    """The cost formula: ``ceil(F / batch_size) * (2 + 2 * L' * P)`` forwards."""
    return math.ceil(n_facts / batch_size) * (2 + 2 * n_layers * n_positions) if n_facts else 0


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replace(output, hidden):
    return (hidden,) + tuple(output[1:]) if isinstance(output, tuple) else hidden


def _resolve_layers(layers, n: int) -> list[int]:
    if layers is None:
        return list(range(n))
    out = []
    for l in layers:
        l = int(l)
        if not -n <= l < n:
            raise ValueError(f"layer {l} out of range for a model with {n} decoder layers")
        l = l % n
        if l not in out:
            out.append(l)
    return out


def patching_scan(reference_model, quantized_model, tokenizer, items, *, layers=None, positions=POSITIONS,
                  max_facts: int | None = DEFAULT_MAX_FACTS, batch_size: int = 16) -> PatchingResult:
    """Cross-model repair and zeroing ablation of the residual stream (see the module docstring)."""
    import torch

    from pytest_qfacts.scoring.batching import left_pad
    from pytest_qfacts.scoring.encode import encode_items
    from pytest_qfacts.trace.layout import discover

    start_time = time.perf_counter()
    positions = tuple(positions)
    unknown = [p for p in positions if p not in POSITIONS]
    if unknown or not positions or len(set(positions)) != len(positions):
        raise ValueError(f"positions must be distinct names among {POSITIONS}, got {positions}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    ref_layout, quant_layout = discover(reference_model), discover(quantized_model)
    if ref_layout.n_layers != quant_layout.n_layers:
        raise ValueError(f"reference has {ref_layout.n_layers} decoder layers, quantized model {quant_layout.n_layers}")
    layer_list = _resolve_layers(layers, ref_layout.n_layers)

    items = list(items)
    picked = patching_fact_indices(len(items), max_facts)
    encoded = encode_items(tokenizer, [items[i] for i in picked])
    F, L, P = len(encoded), len(layer_list), len(positions)
    ref_logit, quant_logit = np.zeros(F), np.zeros(F)
    patched, ablated = np.zeros((P, L, F)), np.zeros((P, L, F))
    has_subject = np.array([e.subject_last is not None for e in encoded], dtype=bool)
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = getattr(tokenizer, "eos_token_id", None) or 0
    ref_device = next(reference_model.parameters()).device
    quant_device = next(quantized_model.parameters()).device
    forwards = 0

    def run(model, device, ids, mask, pos_ids, gold):
        nonlocal forwards
        forwards += 1
        out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos_ids.to(device),
                    logits_to_keep=1, use_cache=False)
        z = out.logits[:, -1].float()
        return z.gather(1, gold.to(z.device)[:, None]).squeeze(1).double().cpu().numpy()

    def hooked(module, hook):
        return module.register_forward_hook(hook)

    with torch.inference_mode():
        for b0 in range(0, F, batch_size):
            rows = encoded[b0:b0 + batch_size]
            sl = slice(b0, b0 + len(rows))
            ids, mask, pos_ids = left_pad([e.prompt_ids for e in rows], pad_id)
            width = ids.shape[1]
            last = [width - 1] * len(rows)
            subj = [width - len(e.prompt_ids) + e.subject_last if e.subject_last is not None else width - 1
                    for e in rows]
            where = {"subject": torch.tensor(subj), "last": torch.tensor(last)}
            batch_index = torch.arange(len(rows))
            gold = torch.tensor([e.object_ids[0] for e in rows])

            # clean reference forward: its logits, and the rows to patch (only those)
            saved: dict[int, list] = {}

            def record(l):
                def hook(module, args, output):
                    h = _hidden(output)
                    saved[l] = [h[batch_index.to(h.device), where[p].to(h.device)].clone() for p in positions]
                return hook

            handles = [hooked(ref_layout.layers[l], record(l)) for l in layer_list]
            try:
                ref_logit[sl] = run(reference_model, ref_device, ids, mask, pos_ids, gold)
            finally:
                for handle in handles:
                    handle.remove()
            quant_logit[sl] = run(quantized_model, quant_device, ids, mask, pos_ids, gold)

            for pi, p in enumerate(positions):
                for li, l in enumerate(layer_list):
                    def patch(module, args, output, value=saved[l][pi], p=p):
                        h = _hidden(output).clone()
                        h[batch_index.to(h.device), where[p].to(h.device)] = value.to(device=h.device, dtype=h.dtype)
                        return _replace(output, h)

                    def zero(module, args, output, p=p):
                        h = _hidden(output).clone()
                        h[batch_index.to(h.device), where[p].to(h.device)] = 0
                        return _replace(output, h)

                    handle = hooked(quant_layout.layers[l], patch)
                    try:
                        patched[pi, li, sl] = run(quantized_model, quant_device, ids, mask, pos_ids, gold)
                    finally:
                        handle.remove()
                    handle = hooked(ref_layout.layers[l], zero)
                    try:
                        ablated[pi, li, sl] = run(reference_model, ref_device, ids, mask, pos_ids, gold)
                    finally:
                        handle.remove()
            del saved

    return PatchingResult(
        fact_indices=picked, layers=np.asarray(layer_list, dtype=np.int64), positions=positions,
        recovery=np.asarray(_recovery(patched, quant_logit[None, None], ref_logit[None, None]), dtype=np.float64),
        necessity=np.asarray(_necessity(ablated, ref_logit[None, None]), dtype=np.float64),
        ref_logit=ref_logit, quant_logit=quant_logit, patched_logit=patched, ablated_logit=ablated,
        has_subject=has_subject, forwards=forwards, seconds=time.perf_counter() - start_time)
