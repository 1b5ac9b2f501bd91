"""Failure-mode verdict: intact, signal degradation or computation collapse.

A pure function of already-measured evidence, following paper 003 (sections
3.2-4.2 and the "Summary of Diagnosis"):

* Signal Degradation (003 Failure Mode I, typical of 4-bit): the computation
  pattern is preserved (CKA diagonal stays high, gates rarely flip, the lens
  trajectory keeps its shape) but the gold signal is weaker: top-1 accuracy
  drops and the median gold rank rises moderately (stays in the top tier).
* Computation Collapse (Failure Mode II, typical of 2-bit): components stop
  working (representations diverge: low CKA; gates flip massively) AND the
  gold signal never forms (median final rank in the thousands, the lens never
  brings the gold token near the top, accuracy near zero).

Decision rule (thresholds in ``VerdictThresholds``, chosen from the measurements in docs/probes.md):

1. ``computation_collapse`` if at least one structural indicator is broken
   (``cka_last_token_min <= collapse_cka`` or
   ``gate_flip_rate_mean >= collapse_gate_flip``) and at least one signal
   indicator is absent (``accuracy_ratio <= collapse_accuracy_ratio``,
   ``median_rank_quantized >= collapse_median_rank`` or
   ``lens_signal <= collapse_lens_signal``). If no structural indicator was
   measured, collapse needs every measured signal indicator to be absent.
2. else ``intact`` if ``accuracy_ratio >= intact_accuracy_ratio`` and
   ``median_rank_quantized <= intact_rank_ratio * max(1, median_rank_reference)``
   (when measured).
3. else ``signal_degradation``.

Only ``accuracy_ratio`` is required; any other key may be missing, None or
NaN ("not measured", e.g. gate flips on a model without a gated MLP). The
reasons list one line per measured number against its threshold(s).

Evidence keys:
  accuracy_ratio         quantized top-1 accuracy / reference top-1 accuracy.
  median_rank_reference  median final-layer gold rank, reference (1 = top).
  median_rank_quantized  median final-layer gold rank, quantized.
  lens_signal            ``metrics.lens.lens_signal_ratio``: fraction of facts
                         whose gold token enters the top-k at some layer,
                         quantized / reference.
  cka_last_token_min     min over layers of the CKA diagonal (reference vs
                         quantized layer outputs at the last prompt token), see
                         ``cka_evidence``. The min (not a late-layer mean) is
                         chosen because collapse destroys the signal early
                         and never recovers, while degradation keeps every
                         layer's diagonal high; one bad layer is enough to
                         count as structural damage, but never alone enough
                         for a collapse verdict (rule 1 also needs signal loss).
  gate_flip_rate_mean    mean over layers of ``metrics.ffn.gate_sign_flip_rate``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "INTACT",
    "SIGNAL_DEGRADATION",
    "COMPUTATION_COLLAPSE",
    "MODES",
    "EVIDENCE_KEYS",
    "VerdictThresholds",
    "cka_evidence",
    "failure_mode",
]

INTACT = "intact"
SIGNAL_DEGRADATION = "signal_degradation"
COMPUTATION_COLLAPSE = "computation_collapse"
MODES = (INTACT, SIGNAL_DEGRADATION, COMPUTATION_COLLAPSE)
EVIDENCE_KEYS = (
    "accuracy_ratio",
    "median_rank_reference",
    "median_rank_quantized",
    "lens_signal",
    "cka_last_token_min",
    "gate_flip_rate_mean",
)


@dataclass(frozen=True)
class VerdictThresholds:
    """Decision thresholds, chosen from RTN W8/W4/W3/W2 on tiny-facts and SmolLM2-135M (docs/probes.md).

    Measured there: intact runs have accuracy ratio 1.00, CKA min >= 0.999, gate flips <= 0.01;
    signal degradation (W4, SmolLM2 W3) CKA min 0.68-0.92, flips 0.08-0.22; computation collapse
    (W2, tiny-facts W3) CKA min 0.01-0.49, flips 0.35-0.50 with accuracy ratio <= 0.07.

    Comparisons are inclusive at the threshold in the direction named.
    """

    intact_accuracy_ratio: float = 0.95   # accuracy_ratio >= this: accuracy preserved
    intact_rank_ratio: float = 2.0        # rank_q <= this * max(1, rank_ref): ranks preserved
    collapse_accuracy_ratio: float = 0.10  # accuracy_ratio <= this: accuracy near zero
    collapse_median_rank: float = 1000.0  # rank_q >= this: gold rank in random-guess territory
    collapse_lens_signal: float = 0.25    # lens_signal <= this: gold signal never emerges
    collapse_cka: float = 0.5             # cka_last_token_min <= this: representations diverge
    collapse_gate_flip: float = 0.30      # gate_flip_rate_mean >= this: gating broken (random = 0.5)


def cka_evidence(cka_diagonal) -> float:
    """``cka_last_token_min`` from a CKA diagonal ``[L]``: NaN-ignoring min (NaN if empty)."""
    d = np.asarray(cka_diagonal, dtype=np.float64).reshape(-1)
    d = d[np.isfinite(d)]
    return float(d.min()) if d.size else float("nan")


def _get(evidence: Mapping[str, Any], key: str) -> float | None:
    v = evidence.get(key)
    if v is None:
        return None
    v = float(v)
    return None if math.isnan(v) else v


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def failure_mode(evidence: Mapping[str, Any],
                 thresholds: VerdictThresholds | None = None) -> tuple[str, list[str]]:
    """Classify a quantized model's failure mode from evidence (see module docstring).

    Returns ``(mode, reasons)``, ``mode`` in ``MODES``, ``reasons`` a list of
    human-readable lines, each naming a number, its threshold and what the
    comparison means, then a final line stating the rule that decided.
    Raises ValueError when ``accuracy_ratio`` is missing/NaN or a key is unknown.
    """
    t = thresholds or VerdictThresholds()
    unknown = set(evidence) - set(EVIDENCE_KEYS)
    if unknown:
        raise ValueError(f"unknown evidence keys {sorted(unknown)}; expected a subset of {list(EVIDENCE_KEYS)}")
    acc = _get(evidence, "accuracy_ratio")
    if acc is None:
        raise ValueError("evidence['accuracy_ratio'] is required (quantized / reference top-1 accuracy)")
    rank_ref = _get(evidence, "median_rank_reference")
    rank_q = _get(evidence, "median_rank_quantized")
    lens = _get(evidence, "lens_signal")
    cka = _get(evidence, "cka_last_token_min")
    flip = _get(evidence, "gate_flip_rate_mean")
    reasons: list[str] = []
    signal_absent: list[bool] = []
    structure_broken: list[bool] = []

    def check(name, value, op, thr_name, thr, yes, no, bucket):
        if value is None:
            reasons.append(f"{name}: not measured")
            return None
        hit = value <= thr if op == "<=" else value >= thr
        neg = ">" if op == "<=" else "<"
        sym = op if hit else neg
        reasons.append(f"{name}={_fmt(value)} {sym} {thr_name}={_fmt(thr)}: {yes if hit else no}")
        if bucket is not None:
            bucket.append(hit)
        return hit

    # Signal (outcome) indicators.
    check("accuracy_ratio", acc, "<=", "collapse_accuracy_ratio", t.collapse_accuracy_ratio,
          "accuracy near zero", "accuracy not near zero", signal_absent)
    check("median_rank_quantized", rank_q, ">=", "collapse_median_rank", t.collapse_median_rank,
          "gold rank collapsed", "gold rank not collapsed", signal_absent)
    check("lens_signal", lens, "<=", "collapse_lens_signal", t.collapse_lens_signal,
          "gold signal never emerges in the lens", "gold signal still emerges in the lens", signal_absent)
    # Structural indicators.
    check("cka_last_token_min", cka, "<=", "collapse_cka", t.collapse_cka,
          "representations diverge", "representation structure preserved", structure_broken)
    check("gate_flip_rate_mean", flip, ">=", "collapse_gate_flip", t.collapse_gate_flip,
          "FFN gating broken", "FFN gating preserved", structure_broken)
    # Intact-side indicators.
    acc_ok = check("accuracy_ratio", acc, ">=", "intact_accuracy_ratio", t.intact_accuracy_ratio,
                   "top-1 recall preserved", "top-1 recall weakened", None)
    rank_ok = True
    if rank_q is not None:
        base = max(1.0, rank_ref if rank_ref is not None else 1.0)
        limit = t.intact_rank_ratio * base
        rank_ok = bool(rank_q <= limit)
        src = "median_rank_reference" if rank_ref is not None else "1 (reference not measured)"
        reasons.append(
            f"median_rank_quantized={_fmt(rank_q)} {'<=' if rank_ok else '>'} "
            f"intact_rank_ratio={_fmt(t.intact_rank_ratio)} * max(1, {src}={_fmt(base)}) = {_fmt(limit)}: "
            f"{'gold rank preserved' if rank_ok else 'gold rank rose'}")

    if structure_broken:
        collapse = any(structure_broken) and any(signal_absent)
        rule = ("rule 1: structure broken and gold signal absent" if collapse else
                "rule 1 not met: needs a broken structural indicator and an absent signal indicator")
    else:
        collapse = bool(signal_absent) and all(signal_absent)
        rule = ("rule 1 (no structural evidence): every measured signal indicator absent" if collapse else
                "rule 1 not met (no structural evidence): not every signal indicator absent")
    if collapse:
        mode = COMPUTATION_COLLAPSE
    elif acc_ok and rank_ok:
        mode, rule = INTACT, rule + "; rule 2: accuracy and gold rank preserved"
    else:
        mode, rule = SIGNAL_DEGRADATION, rule + "; rule 3: signal present but weakened"
    reasons.append(f"verdict {mode} ({rule})")
    return mode, reasons
