"""The two-hop forward: EntRec per layer and CnstScore per two-hop item (formulas in metrics/entrec.py).

Each batch runs the two-hop prompts r2(r1(e1)) and their one-hop prompts r2(e2) in one
left-padded forward (position ids count real tokens, so an item's numbers do not depend
on its batch). Hooks on the decoder layers keep, for the two-hop rows only, the residual
at the EntRec position (the last token of the descriptive mention of e2, or the last
prompt token, see ``TwoHopItem.entrec_at``); after the forward each layer's row goes
through the final norm and the unembedding (logit lens) and gives log p(e2's first token).
The next-token logits of both prompts give CnstScore. Cost: one forward of 2 x N prompts
plus L x N rows of a full-vocabulary product.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.metrics import entrec as metrics
from pytest_qfacts.scoring.batching import left_pad, length_sorted_batches
from pytest_qfacts.scoring.encode import gold_token_ids
from pytest_qfacts.trace.layout import discover
from pytest_qfacts.trace.lens import lens_logits


@dataclass
class TwoHopTrace:
    """Per two-hop item (in ``TwoHopSuite.twohop_items()`` order)."""

    entrec: np.ndarray      # [L, N] log p_lens(e2 first token) at the EntRec position, per decoder layer
    cnstscore: np.ndarray   # [N]
    e2_token: np.ndarray    # [N] the token id EntRec reads
    position: np.ndarray    # [N] index of the EntRec token in the two-hop prompt's ids
    vocab_size: int = 0     # V of the lens: EntRec of a uniform guess is -log V


def entrec_position(tokenizer, prompt: str, char_end: int) -> int:
    """Index of the last token of ``prompt`` that starts before character ``char_end``."""
    if getattr(tokenizer, "is_fast", False):
        enc = tokenizer(prompt, return_offsets_mapping=True)
        last = None
        for index, (a, b) in enumerate(enc["offset_mapping"]):
            if b > a and a < char_end:
                last = index
        if last is not None:
            return last
    return len(tokenizer(prompt[:char_end])["input_ids"]) - 1


def _encode(tokenizer, items):
    rows = []
    for item in items:
        two_hop = list(tokenizer(item.r2_r1_e1)["input_ids"])
        one_hop = list(tokenizer(item.r2_e2)["input_ids"])
        e2 = gold_token_ids(tokenizer, item.r1_e1, item.e2)
        if not two_hop or not one_hop or not e2:
            raise QFactsUsageError(f"two-hop item {item.composition!r} e1={item.e1!r}: a prompt or e2 tokenizes to nothing")
        rows.append((two_hop, one_hop, e2[0], entrec_position(tokenizer, item.r2_r1_e1, item.entrec_char_end)))
    return rows


def trace_twohop(model, tokenizer, items, *, batch_size: int = 16) -> TwoHopTrace:
    """EntRec [L, N] and CnstScore [N] of ``items`` (``TwoHopItem``s) on ``model``."""
    import torch

    layout = discover(model)
    rows = _encode(tokenizer, items)
    n, n_layers = len(rows), layout.n_layers
    out = TwoHopTrace(np.zeros((n_layers, n)), np.zeros(n), np.array([r[2] for r in rows], dtype=np.int64),
                      np.array([r[3] for r in rows], dtype=np.int64))
    device = next(model.parameters()).device
    captured: dict[int, object] = {}
    state: dict = {}

    def hook(layer):
        def fn(module, args, output):
            h = output[0] if isinstance(output, tuple) else output
            b = state["count"]
            captured[layer] = h[torch.arange(b, device=h.device), state["positions"]].float()
        return fn

    handles = [layout.layers[l].register_forward_hook(hook(l)) for l in range(n_layers)]
    try:
        with torch.inference_mode():
            for batch in length_sorted_batches([max(len(r[0]), len(r[1])) for r in rows], batch_size):
                seqs = [rows[i][0] for i in batch] + [rows[i][1] for i in batch]
                ids, mask, positions = left_pad(seqs, tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0, device)
                width = ids.shape[1]
                state["count"] = len(batch)
                state["positions"] = torch.tensor([width - len(rows[i][0]) + rows[i][3] for i in batch], device=device)
                logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1,
                               use_cache=False).logits[:, -1].float().cpu().numpy()
                out.vocab_size = logits.shape[-1]
                k = len(batch)
                out.cnstscore[batch] = metrics.cnstscore(logits[:k], logits[k:])
                e2 = out.e2_token[batch]
                for l in range(n_layers):
                    out.entrec[l, batch] = metrics.entrec(lens_logits(layout, captured[l]).cpu().numpy(), e2)
                captured.clear()
    finally:
        for handle in handles:
            handle.remove()
    return out
