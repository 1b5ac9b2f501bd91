"""Bytes of weights as a quantization library actually stores them.

``stored_bytes(model)`` sums, over every parameter and persistent buffer of
``model`` (what ``state_dict`` holds; each tensor counted once, tied weights included):

* a plain tensor: ``numel * element_size``;
* a tensor subclass that can be flattened (torchao's ``Int8Tensor``,
  ``IntxUnpackedToInt8Tensor``, quanto's ``WeightQBitsTensor``/``PackedTensor``):
  the sum over its inner tensors (``__tensor_flatten__``), recursively, so a
  4-bit weight packed two to a byte counts half a byte per weight and its
  scales and zero points count too;
* ``extra(module)``: tensors a backend keeps outside parameters and buffers
  (bitsandbytes' quantization state, HQQ's scale and zero dicts), counted once.

Nothing here imports torch at import time.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable


def tensor_bytes(t) -> int:
    """Bytes of one tensor; a flattenable tensor subclass counts its inner tensors."""
    flatten = getattr(type(t), "__tensor_flatten__", None)
    if flatten is not None:
        names, _ = t.__tensor_flatten__()
        return sum(tensor_bytes(getattr(t, n)) for n in names)
    return t.numel() * t.element_size()


def stored_bytes(model, extra: Callable[[object], Iterable] | None = None) -> int:
    """Bytes of every parameter and buffer of ``model``, plus ``extra(module)`` tensors."""
    seen: set[int] = set()
    alive: list = []  # ``extra`` may build tensors on the fly: keep them, or a freed one's id is reused and skipped
    total = 0

    def add(t) -> None:
        nonlocal total
        if t is None or id(t) in seen:
            return
        seen.add(id(t))
        alive.append(t)
        total += tensor_bytes(t)

    for p in model.parameters():
        add(p)
    for module in model.modules():  # persistent buffers only: rotary inv_freq & co. are not weights
        for name, b in module.named_buffers(recurse=False):
            if name not in getattr(module, "_non_persistent_buffers_set", ()):
                add(b)
    if extra is not None:
        for module in model.modules():
            for t in extra(module) or ():
                add(t)
    return total
