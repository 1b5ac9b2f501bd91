"""The recall gate: the rules a comparison must hold, as text lines, and the failure message.

Rules (fractions; 0.02 = 2 points):
  drop <= max_drop                 drop = reference_top1 - quantized_top1 (or relative: drop / reference_top1)
  quantized_top1 >= min_accuracy
  reference_top1 >= min_reference_accuracy   a reference that does not know the facts cannot show a loss
"""
from __future__ import annotations

TOLERANCE = 1e-12  # float slack on every comparison with a bound
#: the largest allowed top-1 drop when neither the suite nor the options set one (--qfacts-max-drop's default)
DEFAULT_MAX_DROP = 0.05
#: the gate fails below this reference top-1 (--qfacts-min-reference-accuracy's default)
DEFAULT_MIN_REFERENCE_ACCURACY = 0.2


def recall_gate_problems(result, *, max_drop: float | None, relative: bool = False, per_relation: bool = False,
                         min_accuracy: float | None = None, relation: str | None = None,
                         min_reference_accuracy: float | None = None) -> list[str]:
    """The gate's violations as text lines (empty when the gate holds).

    drop is absolute (reference_top1 - quantized_top1, a fraction) unless ``relative``,
    then drop / reference_top1. ``per_relation`` applies the bound to every relation.
    ``min_reference_accuracy``: the gate fails when the reference's top-1 is below it: the
    reference does not know these facts, so no drop can show (every drop would be ~0).
    """
    rows = [result.relation(relation)] if relation else (result.relations if per_relation else [result.summary])
    kind = "relative drop" if relative else "drop"
    problems = []
    for row in rows:
        drop = row.relative_drop if relative else row.drop
        label = "suite" if row.relation == "*" else f"relation '{row.relation}'"
        if min_reference_accuracy is not None and row.reference_top1 < min_reference_accuracy - TOLERANCE:
            problems.append(f"{label}: the reference recalls only {row.reference_top1:.1%} of these {row.n} prompts "
                            f"(< min_reference_accuracy {min_reference_accuracy:.1%}): the reference does not know "
                            "these facts, so this gate cannot detect a loss; fix the suite (prompts, objects) or lower "
                            "--qfacts-min-reference-accuracy")
        if max_drop is not None and drop > max_drop + TOLERANCE:
            problems.append(f"{label}: {kind} {drop:.1%} > max_drop {max_drop:.1%} "
                            f"(top-1 {row.reference_top1:.1%} -> {row.quantized_top1:.1%}, lost {row.lost}, gained {row.gained}, "
                            f"McNemar p={row.mcnemar_p:.3g})")
        if min_accuracy is not None and row.quantized_top1 < min_accuracy - TOLERANCE:
            problems.append(f"{label}: quantized top-1 {row.quantized_top1:.1%} < min_accuracy {min_accuracy:.1%}")
    return problems


def describe_failure(result, problems: list[str], relation: str | None = None, n_relations: int = 5, n_facts: int = 10) -> str:
    """A failure message: the violations, the worst relations, and up to ``n_facts`` lost facts."""
    lines = [f"qfacts gate failed: {result.model} [{result.recipe}] on suite '{result.suite}'", *("  " + p for p in problems)]
    if relation is None and len(result.relations) > 1:
        worst = sorted(result.relations, key=lambda r: r.drop, reverse=True)[:n_relations]
        lines.append("worst relations (reference -> quantized top-1):")
        lines += [f"  {r.relation}: {r.reference_top1:.1%} -> {r.quantized_top1:.1%} (drop {r.drop:+.1%}, lost {r.lost}/{r.n})"
                  for r in worst]
    lost = result.lost_facts(relation)
    if lost:
        lines.append(f"lost facts ({min(len(lost), n_facts)} of {len(lost)}; gold rank reference -> quantized):")
        for fact in lost[:n_facts]:
            lines.append(f"  [{fact.relation}] {fact.prompt!r} -> gold {fact.object!r}: quantized says {fact.quantized_top!r}, "
                         f"rank {fact.reference_rank} -> {fact.quantized_rank}")
    return "\n".join(lines)
