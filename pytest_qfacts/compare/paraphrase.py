"""The ``paraphrase`` report block: recall over the paraphrases (templates) of each fact.

The prompts of one fact are the consecutive items that ``Suite.items()`` expands from it
(template_index 0, 1, ...); a fact with one template or its own prompt has no paraphrase.
Predictions are the top-1 next tokens. Formulas in metrics/paraphrase.py. Keys:

  accuracy, all_correct, consistency   {reference, quantized} over every fact with >= 2 paraphrases
  facts, pairs                         how many such facts and paraphrase pairs
  relations                            the same per relation (only relations with paraphrases)

Values are null when the suite has no fact with two paraphrases.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import paraphrase as metrics


def paraphrase_groups(items) -> np.ndarray:
    """Group id per item: items expanded from one fact (consecutive template indices) share an id."""
    groups = np.zeros(len(items), dtype=np.int64)
    current, previous = -1, None
    for i, item in enumerate(items):
        same = (previous is not None and item.template_index > 0 and item.relation == previous.relation
                and item.template_index == previous.template_index + 1 and item.subject == previous.subject)
        if not same:
            current += 1
        groups[i] = current
        previous = item
    return groups


def _nan_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def _stats(ref_pred, quant_pred, ref_top1, quant_top1, groups) -> dict:
    both = lambda fn, r, q: {"reference": _nan_none(fn(r, groups)), "quantized": _nan_none(fn(q, groups))}  # noqa: E731
    return {
        "facts": metrics.n_groups(groups), "pairs": metrics.pair_counts(ref_pred, groups)[1],
        "accuracy": both(metrics.accuracy_over_paraphrases, ref_top1, quant_top1),
        "all_correct": both(metrics.all_paraphrases_correct, ref_top1, quant_top1),
        "consistency": both(metrics.consistency, ref_pred, quant_pred),
    }


def paraphrase_block(items, reference, quantized) -> dict:
    """The ``paraphrase`` report block of one run."""
    groups = paraphrase_groups(items)
    ref_pred, quant_pred = reference.topk_ids[:, 0], quantized.topk_ids[:, 0]
    block = _stats(ref_pred, quant_pred, reference.top1, quantized.top1, groups)
    relation_of = np.array([item.relation for item in items], dtype=object)
    rows = []
    for name in dict.fromkeys(item.relation for item in items):
        mask = relation_of == name
        if metrics.n_groups(groups[mask]) == 0:
            continue
        rows.append({"relation": name, **_stats(ref_pred[mask], quant_pred[mask], reference.top1[mask],
                                                quantized.top1[mask], groups[mask])})
    block["relations"] = rows
    return block
