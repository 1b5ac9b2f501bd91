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
from dataclasses import dataclass

import numpy as np

from pytest_qfacts.metrics.patching import necessity as _necessity
from pytest_qfacts.metrics.patching import recovery as _recovery
from pytest_qfacts.metrics.sampling import evenly_spaced

POSITIONS = ("subject", "last")
DEFAULT_MAX_FACTS = 16

__all__ = ["POSITIONS", "DEFAULT_MAX_FACTS", "PatchingHalf", "PatchingResult", "patching_fact_indices", "patching_forwards",
           "patching_result", "patching_scan", "quantized_pass", "reference_pass"]


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
        """Per-position, per-layer medians over facts (NaN-safe; all-NaN -> None), JSON-ready: the
        report block (``probes.patching.block``)."""
        from pytest_qfacts.probes.patching import block

        return block(self.recovery, self.necessity, positions=self.positions, layers=self.layers,
                     facts=len(self.fact_indices), forwards=self.forwards, seconds=self.seconds)


def patching_fact_indices(n: int, max_facts: int | None) -> np.ndarray:
    """Evenly spaced, deterministic indices of at most ``max_facts`` of ``n`` facts (``metrics.sampling``)."""
    if max_facts is not None and max_facts < 1:
        raise ValueError(f"max_facts must be >= 1, got {max_facts}")
    return evenly_spaced(n, max_facts)


def patching_forwards(n_facts: int, n_layers: int, n_positions: int, batch_size: int) -> int:
    """The cost formula: ``ceil(F / batch_size) * (2 + 2 * L' * P)`` forwards."""
    return math.ceil(n_facts / batch_size) * (2 + 2 * n_layers * n_positions) if n_facts else 0


def _hidden(output):
    return output[0] if isinstance(output, tuple) else output


def _replace(output, hidden):
    return (hidden, *output[1:]) if isinstance(output, tuple) else hidden


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


@dataclass
class PatchingHalf:
    """What one model's patching pass measured (arrays keyed as in a run record, ``patching.*``)."""

    arrays: dict
    forwards: int
    seconds: float


def _setup(model, tokenizer, items, layers, positions, max_facts, batch_size):
    from pytest_qfacts.scoring.encode import encode_items
    from pytest_qfacts.trace.layout import discover

    positions = tuple(positions)
    unknown = [p for p in positions if p not in POSITIONS]
    if unknown or not positions or len(set(positions)) != len(positions):
        raise ValueError(f"positions must be distinct names among {POSITIONS}, got {positions}")
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    layout = discover(model)
    layer_list = _resolve_layers(layers, layout.n_layers)
    items = list(items)
    picked = patching_fact_indices(len(items), max_facts)
    encoded = encode_items(tokenizer, [items[i] for i in picked])
    pad_id = tokenizer.pad_token_id
    if pad_id is None:
        pad_id = getattr(tokenizer, "eos_token_id", None) or 0
    return layout, layer_list, positions, picked, encoded, pad_id


def _batches(encoded, pad_id, batch_size):
    """Per batch: (slice, ids, mask, position ids, {position name: row index tensor}, gold first tokens)."""
    import torch

    from pytest_qfacts.scoring.batching import left_pad

    for b0 in range(0, len(encoded), batch_size):
        rows = encoded[b0:b0 + batch_size]
        ids, mask, pos_ids = left_pad([e.prompt_ids for e in rows], pad_id)
        width = ids.shape[1]
        subj = [width - len(e.prompt_ids) + e.subject_last if e.subject_last is not None else width - 1 for e in rows]
        where = {"subject": torch.tensor(subj), "last": torch.tensor([width - 1] * len(rows))}
        yield slice(b0, b0 + len(rows)), ids, mask, pos_ids, where, torch.tensor([e.object_ids[0] for e in rows])


def _gold_logit(model, ids, mask, pos_ids, gold) -> np.ndarray:
    device = next(model.parameters()).device
    out = model(input_ids=ids.to(device), attention_mask=mask.to(device), position_ids=pos_ids.to(device),
                logits_to_keep=1, use_cache=False)
    z = out.logits[:, -1].float()
    return z.gather(1, gold.to(z.device)[:, None]).squeeze(1).double().cpu().numpy()


def _set_rows(output, where, value):
    """``output`` with the hidden rows at ``where`` replaced by ``value`` (0 to zero them)."""
    import torch

    h = _hidden(output).clone()
    index = torch.arange(h.shape[0], device=h.device)
    h[index, where.to(h.device)] = value if isinstance(value, (int, float)) else value.to(device=h.device, dtype=h.dtype)
    return _replace(output, h)


def reference_pass(model, tokenizer, items, *, layers=None, positions=POSITIONS, max_facts: int | None = DEFAULT_MAX_FACTS,
                   batch_size: int = 16) -> PatchingHalf:
    """The reference's half: clean gold logits, the residual rows to patch (only those), zero ablation.

    Arrays: ``patching.fact_indices`` [F], ``patching.layers`` [L'], ``patching.has_subject`` [F],
    ``patching.ref_logit`` [F], ``patching.ablated_logit`` [P, L', F], ``patching.rows`` [P, L', F, H].
    """
    import torch

    start_time = time.perf_counter()
    layout, layer_list, positions, picked, encoded, pad_id = _setup(model, tokenizer, items, layers, positions,
                                                                    max_facts, batch_size)
    F, L, P = len(encoded), len(layer_list), len(positions)
    hidden = layout.unembed.weight.shape[1]
    ref_logit, ablated = np.zeros(F), np.zeros((P, L, F))
    rows_out = np.zeros((P, L, F, hidden), np.float32)
    forwards = 0
    with torch.inference_mode():
        for sl, ids, mask, pos_ids, where, gold in _batches(encoded, pad_id, batch_size):
            def record(li, sl, where):
                def hook(module, args, output):
                    h = _hidden(output)
                    index = torch.arange(h.shape[0], device=h.device)
                    for pi, p in enumerate(positions):
                        rows_out[pi, li, sl] = h[index, where[p].to(h.device)].float().cpu().numpy()
                return hook

            handles = [layout.layers[l].register_forward_hook(record(li, sl, where)) for li, l in enumerate(layer_list)]
            try:
                ref_logit[sl] = _gold_logit(model, ids, mask, pos_ids, gold)
            finally:
                for handle in handles:
                    handle.remove()
            forwards += 1
            for pi, p in enumerate(positions):
                for li, l in enumerate(layer_list):
                    handle = layout.layers[l].register_forward_hook(
                        lambda module, args, output, rows=where[p]: _set_rows(output, rows, 0))
                    try:
                        ablated[pi, li, sl] = _gold_logit(model, ids, mask, pos_ids, gold)
                    finally:
                        handle.remove()
                    forwards += 1
    arrays = {"patching.fact_indices": np.asarray(picked, np.int64), "patching.layers": np.asarray(layer_list, np.int64),
              "patching.has_subject": np.array([e.subject_last is not None for e in encoded], dtype=bool),
              "patching.ref_logit": ref_logit, "patching.ablated_logit": ablated, "patching.rows": rows_out}
    return PatchingHalf(arrays, forwards, time.perf_counter() - start_time)


def quantized_pass(model, tokenizer, items, reference: dict, *, positions=POSITIONS, batch_size: int = 16) -> PatchingHalf:
    """The quantized model's half: clean gold logits, and with each reference row patched in.

    ``reference``: the arrays of ``reference_pass`` (from the reference's run record), so the
    reference model need not be loaded. Arrays: ``patching.quant_logit`` [F],
    ``patching.patched_logit`` [P, L', F].
    """
    import torch

    start_time = time.perf_counter()
    layer_list = [int(l) for l in reference["patching.layers"]]
    layout, _, positions, picked, encoded, pad_id = _setup(model, tokenizer, items, layer_list, positions,
                                                           len(reference["patching.fact_indices"]) or None, batch_size)
    if not np.array_equal(picked, reference["patching.fact_indices"]):
        raise ValueError("the reference's patching facts differ from this suite's; re-measure the reference")
    F, L, P = len(encoded), len(layer_list), len(positions)
    quant_logit, patched = np.zeros(F), np.zeros((P, L, F))
    saved = torch.from_numpy(reference["patching.rows"])
    forwards = 0
    with torch.inference_mode():
        for sl, ids, mask, pos_ids, where, gold in _batches(encoded, pad_id, batch_size):
            quant_logit[sl] = _gold_logit(model, ids, mask, pos_ids, gold)
            forwards += 1
            for pi, p in enumerate(positions):
                for li, l in enumerate(layer_list):
                    handle = layout.layers[l].register_forward_hook(
                        lambda module, args, output, rows=where[p], value=saved[pi, li, sl]: _set_rows(output, rows, value))
                    try:
                        patched[pi, li, sl] = _gold_logit(model, ids, mask, pos_ids, gold)
                    finally:
                        handle.remove()
                    forwards += 1
    return PatchingHalf({"patching.quant_logit": quant_logit, "patching.patched_logit": patched}, forwards,
                        time.perf_counter() - start_time)


def patching_result(arrays: dict, positions, forwards: int, seconds: float) -> PatchingResult:
    """Both halves' arrays -> ``PatchingResult`` (recovery and necessity by ``metrics.patching``)."""
    ref_logit, quant_logit = arrays["patching.ref_logit"], arrays["patching.quant_logit"]
    patched, ablated = arrays["patching.patched_logit"], arrays["patching.ablated_logit"]
    return PatchingResult(
        fact_indices=arrays["patching.fact_indices"], layers=arrays["patching.layers"], positions=tuple(positions),
        recovery=np.asarray(_recovery(patched, quant_logit[None, None], ref_logit[None, None]), dtype=np.float64),
        necessity=np.asarray(_necessity(ablated, ref_logit[None, None]), dtype=np.float64),
        ref_logit=ref_logit, quant_logit=quant_logit, patched_logit=patched, ablated_logit=ablated,
        has_subject=arrays["patching.has_subject"], forwards=forwards, seconds=seconds)


def patching_scan(reference_model, quantized_model, tokenizer, items, *, layers=None, positions=POSITIONS,
                  max_facts: int | None = DEFAULT_MAX_FACTS, batch_size: int = 16) -> PatchingResult:
    """Cross-model repair and zeroing ablation of the residual stream (see the module docstring):
    ``reference_pass`` then ``quantized_pass``."""
    from pytest_qfacts.trace.layout import discover

    n_ref, n_quant = discover(reference_model).n_layers, discover(quantized_model).n_layers
    if n_ref != n_quant:
        raise ValueError(f"reference has {n_ref} decoder layers, quantized model {n_quant}")
    ref = reference_pass(reference_model, tokenizer, items, layers=layers, positions=positions, max_facts=max_facts,
                         batch_size=batch_size)
    quant = quantized_pass(quantized_model, tokenizer, items, ref.arrays, positions=positions, batch_size=batch_size)
    return patching_result({**ref.arrays, **quant.arrays}, positions, ref.forwards + quant.forwards,
                           ref.seconds + quant.seconds)
