"""Assertion helpers for test files. Each failure says which relations and facts broke.

Importing this module needs numpy, not torch. The probe assertions live with their
probes (``probes/<name>.py``) and are re-exported here.
"""
from __future__ import annotations

from pytest_qfacts.gate.recall import DEFAULT_MAX_DROP, describe_failure, recall_gate_problems
from pytest_qfacts.probes.base import ProbeGateFailure, header, need_block
from pytest_qfacts.probes.cka import assert_cka_above
from pytest_qfacts.probes.lens import assert_signal_present
from pytest_qfacts.probes.neurons import assert_top_neurons_retained

__all__ = ["ProbeGateFailure", "RecallGateFailure", "assert_bridge_recall", "assert_cka_above", "assert_failure_mode",
           "assert_recall_retained", "assert_signal_present", "assert_top_neurons_retained", "describe_failure",
           "recall_gate_problems"]


class RecallGateFailure(AssertionError):
    """A recall gate did not hold; the message lists the worst relations and lost facts."""


def assert_recall_retained(result, max_drop: float | None = None, relative: bool = False, per_relation: bool = False,
                           min_accuracy: float | None = None) -> None:
    """Fail unless the quantized model keeps its top-1 recall within ``max_drop`` of the reference.

    ``result`` is a ``Comparison`` (from ``qfacts_pair.compare(suite)``); ``max_drop`` None: the
    default of --qfacts-max-drop (pytest_qfacts.options).
    """
    if max_drop is None:
        max_drop = DEFAULT_MAX_DROP
    problems = recall_gate_problems(result, max_drop=max_drop, relative=relative, per_relation=per_relation,
                                    min_accuracy=min_accuracy)
    if problems:
        raise RecallGateFailure(describe_failure(result, problems))


def assert_failure_mode(result, allowed=("intact", "signal_degradation")) -> None:
    """Fail when the failure-mode verdict is not in ``allowed`` (probes lens, cka, ffn: the defaults)."""
    verdict = need_block(result, "verdict", None, "lens")
    if verdict["mode"] in set(allowed):
        return
    lines = [f"qfacts: failure mode '{verdict['mode']}' for {header(result)} (allowed: {', '.join(sorted(allowed))})"]
    lines += [f"  {reason}" for reason in verdict["reasons"]]
    raise ProbeGateFailure("\n".join(lines))


# -- two-hop assertion (needs a two-hop suite; docs/twohop.md) --------------------------------
def assert_bridge_recall(result, max_drop: float = 1.0, layers=None, n_entities: int = 10) -> None:
    """Fail when quantization weakens the recall of bridge entities in two-hop prompts.

    EntRec_l = log p(e2's first token) read through the logit lens at layer l at the end of
    the descriptive mention of the bridge entity e2 (nats). Per bridge entity, EntRec is
    averaged over its two-hop items. A bridge is lost at layer l when the reference
    recalls it there better than chance (EntRec_ref > -log V, V the vocabulary size) and
    its EntRec falls by more than ``max_drop`` nats (reference - quantized). ``layers``:
    indices to check (negative count from the end; default all). The message names the
    entities lost and the layers where EntRec fell.
    """
    twohop = result.twohop
    if twohop is None:
        raise ProbeGateFailure(f"{header(result)} has no 'twohop' results: assert_bridge_recall needs a two-hop suite "
                               "(e.g. qfacts_pair.compare(load_suite('tiny-facts-twohop')) or a YAML file with 'twohop:')")
    entrec = twohop["entrec"]
    ref_mean, quant_mean = entrec["reference"], entrec["quantized"]
    chance = entrec.get("chance")
    floor = float("-inf") if chance is None else chance
    n = len(ref_mean)
    chosen = sorted({l % n for l in (range(n) if layers is None else layers)})
    lost = []
    for bridge in twohop["bridges"]:
        fell = [(l, bridge["entrec_reference"][l], bridge["entrec_quantized"][l]) for l in chosen
                if bridge["entrec_reference"][l] > floor
                and bridge["entrec_reference"][l] - bridge["entrec_quantized"][l] > max_drop + 1e-12]
        if fell:
            lost.append((max(r - q for _, r, q in fell), bridge, fell))
    if not lost:
        return
    lost.sort(key=lambda entry: -entry[0])
    falling = [l for l in chosen if ref_mean[l] - quant_mean[l] > max_drop + 1e-12]
    checked = f"all {n} layers" if len(chosen) == n else f"layers {chosen}"
    lines = [f"qfacts: bridge entities lost for {header(result)}: EntRec fell by more than max_drop {max_drop:g} nats "
             f"for {len(lost)} of {len(twohop['bridges'])} bridge entities (checked {checked}"
             + (f"; only where the reference is above chance, {chance:.2f})" if chance is not None else ")"),
             f"  lost bridge entities ({min(len(lost), n_entities)} of {len(lost)}, largest fall first; "
             "mean EntRec reference -> quantized, nats):"]
    for _, bridge, fell in lost[:n_entities]:
        shown = ", ".join(f"layer {l}: {r:.2f} -> {q:.2f}" for l, r, q in fell[:6])
        lines.append(f"    {bridge['entity']!r} ({bridge['n']} two-hop items): {shown}")
    lines.append("  layers where EntRec fell (mean over all items): "
                 + (", ".join(f"layer {l}: {ref_mean[l]:.2f} -> {quant_mean[l]:.2f}" for l in falling) if falling
                    else f"none by more than {max_drop:g} nats; the loss is in the entities above"))
    raise ProbeGateFailure("\n".join(lines))
