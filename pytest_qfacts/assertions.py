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
