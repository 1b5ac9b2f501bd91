"""What the benchmarks share: the model, the facts, their token batches and the bare forward they compare with."""
from __future__ import annotations


def load_facts(model_name: str, suite_name: str, limit: int, batch_size: int):
    """(model, tokenizer, items, padded batches): the first ``limit`` prompts of the suite, length-sorted
    and left-padded exactly as the scorer batches them (CPU, float32)."""
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model
    from pytest_qfacts.scoring.batching import left_pad, length_sorted_batches
    from pytest_qfacts.scoring.encode import encode_items
    from pytest_qfacts.suites import load_suite

    loaded = load_model(resolve_model(model_name), device="cpu", dtype="float32")
    tok = loaded.tokenizer
    items = load_suite(suite_name).items()[:limit]
    encoded = encode_items(tok, items)
    batches = length_sorted_batches([len(e.input_ids) for e in encoded], batch_size)
    padded = [left_pad([encoded[i].input_ids for i in b], tok.pad_token_id) for b in batches]
    return loaded.model, tok, items, padded


def bare_forward(model, padded) -> None:
    """The baseline: ``model(input_ids, attention_mask, position_ids)`` per batch, full logits, nothing else."""
    import torch

    with torch.inference_mode():
        for ids, mask, pos in padded:
            model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=False)
