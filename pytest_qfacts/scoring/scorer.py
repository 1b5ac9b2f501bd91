"""The teacher-forced scorer: one batched forward per batch of facts.

Each fact's input is its prompt plus all object tokens but the last; the logits of
the last ``len(object)`` positions (``logits_to_keep``) give log p of every object
token, the first of them the next-token distribution after the prompt.
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.scoring.batching import left_pad, length_sorted_batches
from pytest_qfacts.scoring.encode import EncodedItem, encode_items
from pytest_qfacts.suites.schema import FactItem

DEFAULT_TOPK = 10


def score_items(model, tokenizer, items: list[FactItem], *, batch_size: int = 16, topk: int = DEFAULT_TOPK,
                on_batch: Callable[[int], None] | None = None, observer=None) -> FactScores:
    """Score every item; results are in ``items`` order whatever the batching.

    ``observer`` (optional, see trace/) is told about each batch before its forward
    (``observer.before(batch, encoded)``) and after it (``observer.after(batch, encoded, outputs)``),
    so probes record activations in the same forward.
    """
    import torch

    encoded = encode_items(tokenizer, items)
    n = len(encoded)
    device = next(model.parameters()).device
    pad_id = tokenizer.pad_token_id
    out = _empty(n, topk)
    with torch.inference_mode():
        for batch in length_sorted_batches([len(e.input_ids) for e in encoded], batch_size):
            rows = [encoded[i] for i in batch]
            ids, mask, positions = left_pad([e.input_ids for e in rows], pad_id, device)
            keep = max(len(e.object_ids) for e in rows)
            if observer is not None:
                observer.before(batch, rows, mask)
            outputs = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=keep, use_cache=False)
            if observer is not None:
                observer.after(batch, rows, outputs)
            _collect(outputs.logits.float(), rows, batch, keep, topk, out)
            if on_batch is not None:
                on_batch(len(batch))
    tokens = [[tokenizer.decode([t]) for t in row] for row in out["topk_ids"]]
    gold_first = np.array([e.object_ids[0] for e in encoded], dtype=np.int64)
    return FactScores(**out, topk_tokens=tokens, gold_first=gold_first)


def _empty(n: int, topk: int) -> dict:
    return {
        "gold_rank": np.zeros(n, dtype=np.int64), "top1": np.zeros(n, dtype=bool),
        "first_logprob": np.zeros(n, dtype=np.float64), "object_logprob": np.zeros(n, dtype=np.float64),
        "topk_ids": np.zeros((n, topk), dtype=np.int64), "topk_logprobs": np.zeros((n, topk), dtype=np.float32),
    }


def _collect(logits, rows: list[EncodedItem], batch: list[int], keep: int, topk: int, out: dict) -> None:
    import torch

    logprobs = torch.log_softmax(logits, dim=-1)  # [B, keep, V]
    for row, (index, enc) in enumerate(zip(batch, rows)):
        m = len(enc.object_ids)
        first = keep - m  # the position of the prompt's last token among the kept logits
        next_logits = logits[row, first]
        answers = torch.tensor(enc.answer_first_ids, device=next_logits.device)
        ranks = (next_logits.unsqueeze(0) > next_logits[answers].unsqueeze(1)).sum(-1) + 1
        rank = int(ranks.min())
        gold = torch.tensor(enc.object_ids, device=logits.device)
        token_lp = logprobs[row, first:keep].gather(-1, gold.unsqueeze(-1)).squeeze(-1)
        top = torch.topk(logprobs[row, first], topk)
        out["gold_rank"][index] = rank
        out["top1"][index] = rank == 1
        out["first_logprob"][index] = float(token_lp[0])
        out["object_logprob"][index] = float(token_lp.sum())
        out["topk_ids"][index] = top.indices.cpu().numpy()
        out["topk_logprobs"][index] = top.values.cpu().numpy()
