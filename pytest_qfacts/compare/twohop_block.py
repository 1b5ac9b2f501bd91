"""Pairing the reference's and a quantized model's two-hop results into the ``twohop`` report block.

Inputs: the ``TwoHopSuite``, both models' ``FactScores`` on ``suite.items()`` (the three
accuracies come from them) and both ``TwoHopTrace``s (EntRec, CnstScore). Keys:

  r1_e1, r2_e2, r2_r1_e1      {reference, quantized}: top-1 accuracy of each prompt kind
  entrec                      {reference, quantized, drop: per decoder layer (mean over items, nats),
                               peak_layer: the layer of the reference's highest mean, position,
                               chance: -log V, the EntRec of a uniform guess}
  cnstscore                   {reference, quantized}: mean CnstScore (nats)
  spearman_first_hop          Spearman rho of first-hop vs two-hop accuracy drop across compositions
                              (null when undefined: < 3 compositions or a constant side)
  compositions                the same numbers per composition (relation pair)
  bridges                     per bridge entity e2: n, mean EntRec per layer, reference and quantized
"""
from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from pytest_qfacts.metrics import entrec as metrics
from pytest_qfacts.suites.twohop_suite import HOPS


def _pair(ref: np.ndarray, quant: np.ndarray, mask) -> dict:
    return {"reference": float(np.mean(ref[mask])), "quantized": float(np.mean(quant[mask]))}


def _rounded(values) -> list[float]:
    return [round(float(v), 6) for v in values]


def _nan_none(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def twohop_block(suite, reference, quantized, ref_trace, quant_trace) -> dict:
    """The ``twohop`` report block of one run (see the module docstring)."""
    items = suite.twohop_items()
    index = suite.hop_indices()
    top1 = {hop: (reference.top1[index[hop]], quantized.top1[index[hop]]) for hop in HOPS}
    everything = np.ones(len(items), dtype=bool)
    positions = sorted({item.entrec_at for item in items})
    ref_layers, quant_layers = ref_trace.entrec.mean(1), quant_trace.entrec.mean(1)
    block: dict = {"n": len(items)}
    for hop in ("r1_e1", "r2_e2", "r2_r1_e1"):
        block[hop] = _pair(*top1[hop], everything)
    block["entrec"] = {
        "reference": _rounded(ref_layers), "quantized": _rounded(quant_layers),
        "drop": _rounded(ref_layers - quant_layers), "peak_layer": int(np.argmax(ref_layers)),
        "position": positions[0] if len(positions) == 1 else "mixed",
        "chance": -float(np.log(ref_trace.vocab_size)) if getattr(ref_trace, "vocab_size", 0) else None,
    }
    block["cnstscore"] = {"reference": float(ref_trace.cnstscore.mean()), "quantized": float(quant_trace.cnstscore.mean())}
    comp_of = np.array([item.composition for item in items], dtype=object)
    rows = []
    for comp in suite.compositions:
        mask = comp_of == comp.name
        ref_e, quant_e = ref_trace.entrec[:, mask].mean(1), quant_trace.entrec[:, mask].mean(1)
        peak = int(np.argmax(ref_e))
        rows.append({
            "composition": comp.name, "r1": comp.r1, "r2": comp.r2, "n": int(mask.sum()),
            **{hop: _pair(*top1[hop], mask) for hop in ("r1_e1", "r2_e2", "r2_r1_e1")},
            "entrec_peak": {"layer": peak, "reference": float(ref_e[peak]), "quantized": float(quant_e[peak])},
            "cnstscore": {"reference": float(ref_trace.cnstscore[mask].mean()),
                          "quantized": float(quant_trace.cnstscore[mask].mean())},
        })
    block["compositions"] = rows
    block["spearman_first_hop"] = _nan_none(first_hop_spearman(rows))
    labels, ref_means = metrics.group_means(ref_trace.entrec, [item.e2 for item in items])
    _, quant_means = metrics.group_means(quant_trace.entrec, [item.e2 for item in items])
    counts = dict.fromkeys(labels, 0)
    for item in items:
        counts[item.e2] += 1
    block["bridges"] = [{"entity": e2, "n": counts[e2], "entrec_reference": _rounded(r), "entrec_quantized": _rounded(q)}
                        for e2, r, q in zip(labels, ref_means, quant_means)]
    return block


def drops(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    """(first-hop drop, two-hop drop) per composition row of a ``twohop`` block."""
    d1 = metrics.degradation([r["r1_e1"]["reference"] for r in rows], [r["r1_e1"]["quantized"] for r in rows])
    d2 = metrics.degradation([r["r2_r1_e1"]["reference"] for r in rows], [r["r2_r1_e1"]["quantized"] for r in rows])
    return d1, d2


def first_hop_spearman(rows: list[dict]) -> float:
    """Spearman rho of first-hop vs two-hop accuracy drop over the composition rows (NaN if undefined)."""
    d1, d2 = drops(rows)
    return metrics.spearman(d1, d2)


def spearman_across_runs(blocks: dict[str, dict]) -> dict:
    """Spearman over every (composition, recipe) point of several runs of one suite: ``{recipe: twohop block}``."""
    rows = [row for block in blocks.values() for row in block["compositions"]]
    return {"rho": _nan_none(first_hop_spearman(rows)), "points": len(rows), "recipes": sorted(blocks)}


class _StoredTwoHop:
    """The parts of a ``TwoHopSuite`` and a ``TwoHopTrace`` that ``twohop_block`` reads, from a run record."""

    def __init__(self, run):
        meta = run.meta["twohop"]
        self._items = [SimpleNamespace(**item) for item in meta["items"]]
        self._hops = {hop: np.asarray(idx, dtype=np.int64) for hop, idx in meta["hop_indices"].items()}
        self.compositions = [SimpleNamespace(**comp) for comp in meta["compositions"]]
        self.entrec, self.cnstscore = run.arrays["twohop.entrec"], run.arrays["twohop.cnstscore"]
        self.vocab_size = meta["vocab_size"]

    def twohop_items(self) -> list:
        return self._items

    def hop_indices(self) -> dict:
        return self._hops


def twohop_block_from_runs(reference_run, quantized_run) -> dict | None:
    """The ``twohop`` block of two runs of a two-hop suite (None when either run has no two-hop pass)."""
    if "twohop" not in reference_run.meta or "twohop" not in quantized_run.meta:
        return None
    ref, quant = _StoredTwoHop(reference_run), _StoredTwoHop(quantized_run)
    return twohop_block(quant, reference_run.scores, quantized_run.scores, ref, quant)
