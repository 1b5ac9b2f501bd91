"""Robust and failure subsets (003 §3.1, appendix A.3). Pure numpy.

Per scored prompt, with ``ref`` / ``quant`` = top-1 right in the reference / quantized model::

    robust  = ref AND quant        ("fp_and_4bit_correct")
    failure = ref AND NOT quant    ("fp_correct_4bit_wrong")

Prompts the reference gets wrong belong to neither. 003 draws them against its 4-bit
model; here they are drawn per run, against that run's recipe.
"""
from __future__ import annotations

import numpy as np

SUBSETS = ("robust", "failure")


def subset_mask(name: str, reference_top1: np.ndarray, quantized_top1: np.ndarray) -> np.ndarray:
    """Boolean mask of the prompts in subset ``name`` (``robust`` or ``failure``)."""
    ref, quant = np.asarray(reference_top1, dtype=bool), np.asarray(quantized_top1, dtype=bool)
    if ref.shape != quant.shape:
        raise ValueError(f"top-1 arrays differ in shape: {ref.shape} vs {quant.shape}")
    if name == "robust":
        return ref & quant
    if name == "failure":
        return ref & ~quant
    raise ValueError(f"unknown subset {name!r}; accepted: {', '.join(SUBSETS)}")
