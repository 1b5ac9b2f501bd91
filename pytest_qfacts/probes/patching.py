"""Probe ``patching``: cross-model activation patching and zero ablation (paper 003, section 3.4).

Not recorded in the scoring forward: it needs passes of its own (``trace/patching.py``), one
per model. The reference's pass keeps its clean gold logits, the residual rows to patch and
the zero-ablated logits; the quantized model's pass patches those rows in (from the
reference's run record: the reference model need not be loaded). Formulas
(``metrics/patching.py``): ``recovery = (z_patched - z_quant) / (z_ref - z_quant)``,
``necessity = (z_ref - z_ablated) / |z_ref|``, per position, layer and fact.

Report ``patching``: ``facts``, ``forwards``, ``seconds``, ``layers``, ``positions``,
``recovery_<position>`` and ``necessity_<position>`` (median over facts per layer).
"""
from __future__ import annotations

import warnings

import numpy as np

from pytest_qfacts.metrics.patching import necessity, recovery
from pytest_qfacts.probes.base import Probe, ProbeBlock


def _medians(values: np.ndarray) -> list:
    """NaN-safe median of each row of [L', F]; None where a row has no finite value (or F == 0)."""
    if values.shape[-1] == 0:
        return [None] * values.shape[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(values.astype(np.float64), axis=-1)
    return [None if np.isnan(m) else float(m) for m in med]


def block(recovery: np.ndarray, necessity: np.ndarray, *, positions, layers, facts: int, forwards: int,
          seconds: float) -> dict:
    """The ``patching`` report block: per position, per layer, the median over facts of ``recovery`` and
    ``necessity`` ([P, L', F]; NaN-safe, all-NaN -> None)."""
    out = {"facts": int(facts), "forwards": int(forwards), "seconds": float(seconds),
           "layers": [int(l) for l in layers], "positions": list(positions)}
    for name, values in (("recovery", recovery), ("necessity", necessity)):
        for p, pos in enumerate(positions):
            out[f"{name}_{pos}"] = _medians(np.asarray(values[p], dtype=np.float64))
    return out


def _compare(ref, quant) -> ProbeBlock:
    r, q = ref.meta.get("patching", {}), quant.meta.get("patching", {})
    ref_logit, quant_logit = ref.arrays["patching.ref_logit"], quant.arrays["patching.quant_logit"]
    return ProbeBlock(block=block(
        recovery(quant.arrays["patching.patched_logit"], quant_logit[None, None], ref_logit[None, None]),
        necessity(ref.arrays["patching.ablated_logit"], ref_logit[None, None]),
        positions=r.get("positions", ()), layers=ref.arrays["patching.layers"],
        facts=len(ref.arrays["patching.fact_indices"]), forwards=r.get("forwards", 0) + q.get("forwards", 0),
        seconds=r.get("seconds", 0.0) + q.get("seconds", 0.0)))


PROBE = Probe(
    name="patching", summary="activation patching (cross-model repair) and zero ablation per layer and position",
    in_pass=False, storage={"patching.": "raw"}, compare=_compare,
)
