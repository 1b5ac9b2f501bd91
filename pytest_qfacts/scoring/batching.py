"""Length-sorted batches with left padding and correct position ids.

Sorting by length keeps padding (wasted compute) small. Left padding puts every
prompt's last token at the last position; position ids count real tokens only
(``cumsum(mask) - 1``), so a fact's scores do not depend on its batch.
"""
from __future__ import annotations

from collections.abc import Sequence


def length_sorted_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of at most ``batch_size``, shortest first (stable)."""
    if batch_size < 1:
        raise ValueError(f"batch size must be >= 1, got {batch_size}")
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def left_pad(sequences: Sequence[Sequence[int]], pad_id: int, device=None):
    """Return input_ids, attention_mask and position_ids tensors of shape [B, T]."""
    import torch

    width = max(len(s) for s in sequences)
    ids = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(sequences), width), dtype=torch.long)
    for row, seq in enumerate(sequences):
        ids[row, width - len(seq):] = torch.tensor(seq, dtype=torch.long)
        mask[row, width - len(seq):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    if device is not None:
        ids, mask, positions = ids.to(device), mask.to(device), positions.to(device)
    return ids, mask, positions
