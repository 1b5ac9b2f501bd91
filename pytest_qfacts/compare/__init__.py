"""Pairing two run records: ``compare(reference_run, quantized_run) -> Comparison``. Pure: arrays in,
numbers out; no model, no torch."""
from __future__ import annotations

from pytest_qfacts.compare.comparison import Comparison, LostFact, RelationRow, compare_scores

__all__ = ["Comparison", "LostFact", "RelationRow", "compare", "compare_scores"]


def compare(reference_run, quantized_run, *, reference_source: str = "model", context: dict | None = None,
            thresholds=None) -> Comparison:
    """The comparison of two ``ModelRun``s of one suite: recall rows, probe blocks, verdict,
    subsets, paraphrase and (two-hop runs) the ``twohop`` block.

    ``reference_source``: ``model`` or ``baseline`` (reported); ``context``: extra report keys
    (``baseline``, ``probes``, ``tier``); ``thresholds``: the verdict's (``metrics.verdict``).
    """
    from pytest_qfacts.compare.paraphrase import paraphrase_block
    from pytest_qfacts.compare.probe_blocks import probe_results
    from pytest_qfacts.compare.subsets import subsets_block
    from pytest_qfacts.compare.twohop_block import twohop_block_from_runs

    ref, quant = reference_run, quantized_run
    if ref.info.suite_hash != quant.info.suite_hash or len(ref) != len(quant):
        raise ValueError(f"runs of different suites: reference {ref.info.suite}@{ref.info.suite_hash[:12]} "
                         f"({len(ref)} prompts), quantized {quant.info.suite}@{quant.info.suite_hash[:12]} ({len(quant)})")
    comparison = compare_scores(quant.items, ref.scores, quant.scores, model=quant.info.model,
                                recipe=quant.info.recipe or "reference", suite=quant.info.suite,
                                suite_hash=quant.info.suite_hash, reference_source=reference_source,
                                quant_info=dict(quant.info.quant))
    comparison.context = dict(context or {})
    probes = probe_results(ref, quant, thresholds)
    comparison.layers, comparison.blocks, comparison.verdict = probes.layers, probes.blocks, probes.verdict
    comparison.subsets = subsets_block(comparison)
    comparison.paraphrase = paraphrase_block(comparison.items, comparison.reference, comparison.quantized)
    comparison.twohop = twohop_block_from_runs(ref, quant)
    return comparison
