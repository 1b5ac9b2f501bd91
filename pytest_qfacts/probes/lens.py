"""Probe ``lens``: the logit lens at the last prompt token (paper 003, section 3.3).

Records the residual stream (``probes/residual.py``); after the forward, projects each
layer's row through the final norm and the unembedding (``trace/lens.py``) on at most
``lens_facts`` facts, evenly spaced:
``z = W_U norm(h_l)``, ``p_gold = softmax(z)[gold]``, ``rank = 1 + #{v : z_v > z_gold}``.
Arrays ``lens.prob``, ``lens.rank`` [L, N] (uncovered facts: NaN / -1).

Report: ``layers.lens_rank_*`` (median gold rank per layer), ``layers.lens_prob_*`` (mean gold
probability), ``lens.signal_*`` (fraction of facts whose gold token reaches the top-``LENS_TOPK``
at some layer), ``lens.first_layer_in_topk_*``; evidence ``lens_signal`` = quantized / reference
signal fraction. Assertion: ``assert_signal_present``.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import lens as metrics
from pytest_qfacts.probes.base import Probe, ProbeBlock, ProbeGateFailure, header, need_block
from pytest_qfacts.probes.residual import RESIDUAL, RESIDUAL_STORAGE

LENS_TOPK = 10  # the gold token "is present" in a layer when its lens rank is <= 10


def _finish(ctx, scores) -> dict:
    prob, rank = ctx.lens_gold_stats(ctx.arrays["resid_last"], scores.gold_first, ctx.lens_facts)
    return {"lens.prob": prob, "lens.rank": rank}


def _median_layer(first: np.ndarray) -> float | None:
    present = first[first >= 0]
    return float(np.median(present)) if present.size else None


def _compare(ref, quant) -> ProbeBlock:
    ref_rank, quant_rank = ref.arrays["lens.rank"], quant.arrays["lens.rank"]
    covered = (ref_rank[0] >= 0) & (quant_rank[0] >= 0)  # facts the lens ran on in both runs
    r_prob, r_rank = ref.arrays["lens.prob"][:, covered], ref_rank[:, covered]
    q_prob, q_rank = quant.arrays["lens.prob"][:, covered], quant_rank[:, covered]
    layers = {
        "lens_rank_reference": metrics.median_rank_per_layer(r_rank).tolist(),
        "lens_rank_quantized": metrics.median_rank_per_layer(q_rank).tolist(),
        "lens_prob_reference": r_prob.mean(1).tolist(),
        "lens_prob_quantized": q_prob.mean(1).tolist(),
    }
    block = {
        "topk": LENS_TOPK, "facts": int(covered.sum()),
        "signal_reference": metrics.lens_signal_fraction(r_rank, LENS_TOPK),
        "signal_quantized": metrics.lens_signal_fraction(q_rank, LENS_TOPK),
        "first_layer_in_topk_reference": _median_layer(metrics.first_layer_in_topk(r_rank, LENS_TOPK)),
        "first_layer_in_topk_quantized": _median_layer(metrics.first_layer_in_topk(q_rank, LENS_TOPK)),
    }
    evidence = {"lens_signal": metrics.lens_signal_ratio(r_rank, q_rank, LENS_TOPK)}
    return ProbeBlock(layers, block, evidence)


def assert_signal_present(result, min_ratio: float = 0.5) -> None:
    """Fail unless the gold token still surfaces in the logit lens.

    lens signal = fraction of facts whose gold token reaches the lens top-k (k=10) at some
    layer, quantized / reference (probe ``lens``). Fails when it is below ``min_ratio``,
    listing the layers where the quantized median gold rank is furthest from the reference's.
    """
    lens = need_block(result, "lens", None, "lens")
    ref, quant = lens["signal_reference"], lens["signal_quantized"]
    ratio = quant / ref if ref > 0 else 1.0
    if ratio >= min_ratio:
        return
    layers = result.layers
    pairs = list(enumerate(zip(layers["lens_rank_reference"], layers["lens_rank_quantized"])))
    worst = sorted(pairs, key=lambda p: p[1][1] / max(p[1][0], 1.0), reverse=True)[:5]
    lines = [f"qfacts: gold signal lost for {header(result)}",
             f"  lens signal {quant:.1%} of facts reach the top-{lens['topk']} (reference {ref:.1%}): "
             f"ratio {ratio:.2f} < min_ratio {min_ratio:.2f}",
             "  layers with the largest rank rise (median gold rank reference -> quantized):"]
    lines += [f"    layer {l}: {r:.0f} -> {q:.0f}" for l, (r, q) in worst]
    raise ProbeGateFailure("\n".join(lines))


PROBE = Probe(
    name="lens", summary="logit lens at the last prompt token: median gold rank and probability per layer",
    recordings=(RESIDUAL,), storage={**RESIDUAL_STORAGE, "lens.": "raw"}, finish=_finish, compare=_compare,
    assertion=assert_signal_present, arrays=("lens.prob", "lens.rank"),
)
