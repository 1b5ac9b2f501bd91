"""The probes' part of a comparison: each probe's report entries and the failure-mode verdict.

Each probe recorded in both runs turns the pair into a ``ProbeBlock`` (``probes/<name>.py``);
their ``layers`` entries merge into one per-layer table, their blocks are kept by probe name,
and their evidence, with the recall evidence below, decides the verdict (``metrics/verdict.py``):

  accuracy_ratio          quantized top-1 / reference top-1 (1 when both are 0; inf when only
                          the reference is 0)
  median_rank_reference, median_rank_quantized    median gold rank over prompts
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pytest_qfacts.metrics import verdict as verdict_rules
from pytest_qfacts.probes.registry import get_probe, known_names


@dataclass
class ProbeResults:
    layers: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)
    verdict: dict | None = None


def recall_evidence(reference, quantized) -> dict:
    """The verdict's evidence from the scores alone (see the module docstring)."""
    ref_acc = float(np.mean(reference.top1)) if len(reference) else 0.0
    q_acc = float(np.mean(quantized.top1)) if len(quantized) else 0.0
    ratio = q_acc / ref_acc if ref_acc > 0 else (1.0 if q_acc == 0 else float("inf"))
    return {"accuracy_ratio": ratio, "median_rank_reference": float(np.median(reference.gold_rank)),
            "median_rank_quantized": float(np.median(quantized.gold_rank))}


def _shared_probes(ref_run, quant_run) -> list[str]:
    both = set(ref_run.info.probes) & set(quant_run.info.probes)
    order = list(known_names())
    return sorted(both, key=lambda n: order.index(n) if n in order else len(order))


def probe_results(ref_run, quant_run, thresholds=None) -> ProbeResults:
    """Every probe block both runs allow, and the verdict when an in-pass probe ran in both."""
    out = ProbeResults()
    evidence = recall_evidence(ref_run.scores, quant_run.scores)
    in_pass = False
    for name in _shared_probes(ref_run, quant_run):
        probe = get_probe(name)
        if probe.compare is None or not all(a in ref_run.arrays and a in quant_run.arrays for a in probe.arrays):
            continue
        result = probe.compare(ref_run, quant_run)
        out.layers.update(result.layers)
        if result.block is not None:
            out.blocks[name] = result.block
        evidence.update(result.evidence)
        in_pass = in_pass or probe.in_pass
    if in_pass:
        mode, reasons = verdict_rules.failure_mode(evidence, thresholds)
        out.verdict = {"mode": mode, "evidence": evidence, "reasons": reasons}
    return out
