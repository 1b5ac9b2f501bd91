"""Assertion helpers for test files. Each failure says which relations and facts broke.

Importing this module is cheap (no numpy, no torch).
"""
from __future__ import annotations


class RecallGateFailure(AssertionError):
    """A recall gate did not hold; the message lists the worst relations and lost facts."""


def recall_gate_problems(result, *, max_drop: float | None = 0.02, relative: bool = False, per_relation: bool = False,
                         min_accuracy: float | None = None, relation: str | None = None) -> list[str]:
    """The gate's violations as text lines (empty when the gate holds).

    drop is absolute (reference_top1 - quantized_top1, a fraction) unless ``relative``,
    then drop / reference_top1. ``per_relation`` applies the bound to every relation.
    """
    rows = [result.relation(relation)] if relation else (result.relations if per_relation else [result.summary])
    kind = "relative drop" if relative else "drop"
    problems = []
    for row in rows:
        drop = row.relative_drop if relative else row.drop
        label = "suite" if row.relation == "*" else f"relation '{row.relation}'"
        if max_drop is not None and drop > max_drop + 1e-12:
            problems.append(f"{label}: {kind} {drop:.1%} > max_drop {max_drop:.1%} "
                            f"(top-1 {row.reference_top1:.1%} -> {row.quantized_top1:.1%}, lost {row.lost}, gained {row.gained}, McNemar p={row.mcnemar_p:.3g})")
        if min_accuracy is not None and row.quantized_top1 < min_accuracy - 1e-12:
            problems.append(f"{label}: quantized top-1 {row.quantized_top1:.1%} < min_accuracy {min_accuracy:.1%}")
    return problems


def describe_failure(result, problems: list[str], relation: str | None = None, n_relations: int = 5, n_facts: int = 10) -> str:
    """A failure message: the violations, the worst relations, and up to ``n_facts`` lost facts."""
    lines = [f"qfacts gate failed: {result.model} [{result.recipe}] on suite '{result.suite}'", *("  " + p for p in problems)]
    if relation is None and len(result.relations) > 1:
        worst = sorted(result.relations, key=lambda r: r.drop, reverse=True)[:n_relations]
        lines.append("worst relations (reference -> quantized top-1):")
        lines += [f"  {r.relation}: {r.reference_top1:.1%} -> {r.quantized_top1:.1%} (drop {r.drop:+.1%}, lost {r.lost}/{r.n})" for r in worst]
    lost = result.lost_facts(relation)
    if lost:
        lines.append(f"lost facts ({min(len(lost), n_facts)} of {len(lost)}; gold rank reference -> quantized):")
        for fact in lost[:n_facts]:
            lines.append(f"  [{fact.relation}] {fact.prompt!r} -> gold {fact.object!r}: quantized says {fact.quantized_top!r}, "
                         f"rank {fact.reference_rank} -> {fact.quantized_rank}")
    return "\n".join(lines)


def assert_recall_retained(result, max_drop: float = 0.02, relative: bool = False, per_relation: bool = False,
                           min_accuracy: float | None = None) -> None:
    """Fail unless the quantized model keeps its top-1 recall within ``max_drop`` of the reference.

    ``result`` is a ``Comparison`` (from ``qfacts_pair.compare(suite)``).
    """
    problems = recall_gate_problems(result, max_drop=max_drop, relative=relative, per_relation=per_relation,
                                    min_accuracy=min_accuracy)
    if problems:
        raise RecallGateFailure(describe_failure(result, problems))


# -- probe assertions (need the probes named in each docstring) ---------------------------
class ProbeGateFailure(AssertionError):
    """A mechanistic-probe assertion did not hold; the message names layers and numbers."""


def _need(result, section: str, key: str | None, probe: str):
    data = result.extras.get(section)
    if data is None or (key is not None and key not in data):
        name = f"{section}.{key}" if key else section
        raise ProbeGateFailure(
            f"{result.model} [{result.recipe}] on '{result.suite}' has no '{name}': it needs the '{probe}' probe; "
            f"compare with qfacts_pair.compare(suite, probes=[..., '{probe}']) or run with --qfacts-probes=all")
    return data if key is None else data[key]


def _header(result) -> str:
    return f"{result.model} [{result.recipe}] on suite '{result.suite}'"


def assert_signal_present(result, min_ratio: float = 0.5) -> None:
    """Fail unless the gold token still surfaces in the logit lens.

    lens signal = fraction of facts whose gold token reaches the lens top-k (k=10) at some
    layer, quantized / reference (probe ``lens``). Fails when it is below ``min_ratio``,
    listing the layers where the quantized median gold rank is furthest from the reference's.
    """
    lens = _need(result, "lens", None, "lens")
    ref, quant = lens["signal_reference"], lens["signal_quantized"]
    ratio = quant / ref if ref > 0 else 1.0
    if ratio >= min_ratio:
        return
    layers = result.extras["layers"]
    pairs = list(enumerate(zip(layers["lens_rank_reference"], layers["lens_rank_quantized"])))
    worst = sorted(pairs, key=lambda p: p[1][1] / max(p[1][0], 1.0), reverse=True)[:5]
    lines = [f"qfacts: gold signal lost for {_header(result)}",
             f"  lens signal {quant:.1%} of facts reach the top-{lens['topk']} (reference {ref:.1%}): ratio {ratio:.2f} < min_ratio {min_ratio:.2f}",
             "  layers with the largest rank rise (median gold rank reference -> quantized):"]
    lines += [f"    layer {l}: {r:.0f} -> {q:.0f}" for l, (r, q) in worst]
    raise ProbeGateFailure("\n".join(lines))


def assert_cka_above(result, floor: float = 0.8, layers=None, position: str = "last_token") -> None:
    """Fail when the linear CKA between reference and quantized activations is below ``floor``.

    ``position``: ``last_token`` or ``subject`` (probe ``cka``); ``layers``: indices to check
    (default all; negative indices count from the end).
    """
    key = {"last_token": "cka_last_token", "subject": "cka_subject"}.get(position)
    if key is None:
        raise ValueError(f"position must be 'last_token' or 'subject', got {position!r}")
    values = _need(result, "layers", key, "cka")
    n = len(values)
    chosen = range(n) if layers is None else [l % n for l in layers]
    broken = [(l, values[l]) for l in chosen if values[l] < floor]
    if broken:
        shown = ", ".join(f"layer {l}: {v:.3f}" for l, v in broken[:12])
        more = f" (+{len(broken) - 12} more)" if len(broken) > 12 else ""
        raise ProbeGateFailure(f"qfacts: CKA ({position}) below floor {floor} for {_header(result)} in "
                               f"{len(broken)} of {len(list(chosen))} layers: {shown}{more}")


def assert_top_neurons_retained(result, min_fraction: float = 0.5) -> None:
    """Fail unless, per fact on average, at least ``min_fraction`` of the reference's top-300
    knowledge neurons keep a contribution >= tau in the quantized model (probe ``neurons``)."""
    neurons = _need(result, "neurons", None, "neurons")
    if neurons["retained_fraction"] >= min_fraction:
        return
    lines = [f"qfacts: knowledge neurons lost for {_header(result)}",
             f"  retained {neurons['retained']:.1f} of the reference's top {neurons['reference_count']} neurons per fact "
             f"({neurons['retained_fraction']:.1%} < min_fraction {min_fraction:.1%}; tau = {neurons['tau']:.3g}, median over facts)"]
    layers = result.extras.get("layers", {})
    if "ffn_contribution_reference" in layers:
        drops = [(l, r - q) for l, (r, q) in enumerate(zip(layers["ffn_contribution_reference"], layers["ffn_contribution_quantized"]))]
        lines.append("  layers whose FFN contribution to the gold logit fell most: "
                     + ", ".join(f"layer {l}: -{d:.3g}" for l, d in sorted(drops, key=lambda p: p[1], reverse=True)[:5]))
    raise ProbeGateFailure("\n".join(lines))


def assert_failure_mode(result, allowed=("intact", "signal_degradation")) -> None:
    """Fail when the failure-mode verdict is not in ``allowed`` (probes lens, cka, ffn: the defaults)."""
    verdict = _need(result, "verdict", None, "lens")
    if verdict["mode"] in set(allowed):
        return
    lines = [f"qfacts: failure mode '{verdict['mode']}' for {_header(result)} (allowed: {', '.join(sorted(allowed))})"]
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
    twohop = result.extras.get("twohop")
    if twohop is None:
        raise ProbeGateFailure(f"{_header(result)} has no 'twohop' results: assert_bridge_recall needs a two-hop suite "
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
    lines = [f"qfacts: bridge entities lost for {_header(result)}: EntRec fell by more than max_drop {max_drop:g} nats "
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
