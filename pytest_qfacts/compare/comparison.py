"""The comparison of a quantized model with its reference on one suite.

Definitions (accuracy is top-1 over scored prompts, one per fact x template):
  drop          = reference_top1 - quantized_top1            (fraction, 0.02 = 2 points)
  relative_drop = drop / reference_top1                      (0 when reference_top1 is 0)
  lost          = #prompts right in the reference, wrong quantized
  gained        = #prompts wrong in the reference, right quantized
  mcnemar_p     = exact two-sided McNemar p-value on (lost, gained)
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pytest_qfacts.metrics.recall import mcnemar_exact
from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.suites.schema import FactItem


@dataclass
class RelationRow:
    relation: str
    n: int
    reference_top1: float
    quantized_top1: float
    reference_median_rank: float
    quantized_median_rank: float
    lost: int
    gained: int
    mcnemar_p: float

    @property
    def drop(self) -> float:
        return self.reference_top1 - self.quantized_top1

    @property
    def relative_drop(self) -> float:
        return self.drop / self.reference_top1 if self.reference_top1 > 0 else 0.0

    def to_dict(self) -> dict:
        return {
            "relation": self.relation, "n": self.n,
            "reference_top1": self.reference_top1, "quantized_top1": self.quantized_top1,
            "drop": self.drop, "relative_drop": self.relative_drop,
            "reference_median_rank": self.reference_median_rank, "quantized_median_rank": self.quantized_median_rank,
            "lost": self.lost, "gained": self.gained, "mcnemar_p": self.mcnemar_p,
        }


@dataclass
class LostFact:
    relation: str
    subject: str | None
    object: str
    prompt: str
    reference_rank: int
    quantized_rank: int
    quantized_top: str


@dataclass
class Comparison:
    """Reference vs quantized on one suite: recall rows, plus typed blocks from the probes.

    ``layers``: per-layer entries of every probe (``layers.*`` in the report); ``blocks``: each
    probe's own block by probe name (``lens``, ``neurons``, ``patching``, plug-in probes);
    ``verdict``: the failure mode and its evidence (when an in-pass probe ran); ``subsets``,
    ``paraphrase``, ``twohop``: recall blocks; ``context``: where the reference came from
    (``baseline``), the probes asked for and the tier.
    """

    model: str
    recipe: str
    suite: str
    suite_hash: str
    items: list[FactItem]
    reference: FactScores
    quantized: FactScores
    summary: RelationRow
    relations: list[RelationRow]
    reference_source: str = "model"
    quant_info: dict = field(default_factory=dict)
    layers: dict = field(default_factory=dict)
    blocks: dict = field(default_factory=dict)
    verdict: dict | None = None
    subsets: dict | None = None
    paraphrase: dict | None = None
    twohop: dict | None = None
    context: dict = field(default_factory=dict)

    def block(self, name: str) -> dict | None:
        """A report block by name (``lens``, ``neurons``, ``patching``, ``verdict``, ``twohop``, ...), or None."""
        if name in ("verdict", "subsets", "paraphrase", "twohop"):
            return getattr(self, name)
        if name == "layers":
            return self.layers or None
        return self.blocks.get(name)

    @property
    def extras(self) -> dict:
        """Every block as the report's run entry holds it (a read-only view, keyed by report key)."""
        out = dict(self.context)
        out.update(self.blocks)
        if self.verdict is not None:
            out["verdict"] = self.verdict
        if self.layers or self.verdict is not None:
            out["layers"] = self.layers
        for name in ("subsets", "paraphrase", "twohop"):
            if getattr(self, name) is not None:
                out[name] = getattr(self, name)
        return out

    def relation(self, name: str) -> RelationRow:
        for row in self.relations:
            if row.relation == name:
                return row
        raise KeyError(f"no relation '{name}' in suite '{self.suite}'; relations: {[r.relation for r in self.relations]}")

    def lost_facts(self, relation: str | None = None) -> list[LostFact]:
        out = []
        lost = self.reference.top1 & ~self.quantized.top1
        for index in np.flatnonzero(lost):
            item = self.items[index]
            if relation is not None and item.relation != relation:
                continue
            out.append(LostFact(item.relation, item.subject, item.object, item.prompt,
                                int(self.reference.gold_rank[index]), int(self.quantized.gold_rank[index]),
                                self.quantized.topk_tokens[index][0] if self.quantized.topk_tokens[index] else ""))
        return out

    def subset_suite(self, name: str):
        """The prompts right in both models (``"robust"``) or right only in the reference (``"failure"``)
        as a ``Suite``, e.g. to run the probes on them (003 §3.1; compare/subsets.py)."""
        from pytest_qfacts.compare.subsets import subset_suite

        return subset_suite(self, name)

    def to_report(self) -> dict:
        """The run's entry in the JSON report (docs/report-schema.json)."""
        s = self.summary
        facts = [
            {"relation": it.relation, "subject": it.subject, "object": it.object, "prompt": it.prompt,
             "reference_rank": int(self.reference.gold_rank[i]), "quantized_rank": int(self.quantized.gold_rank[i]),
             "reference_top": _first(self.reference.topk_tokens[i]), "quantized_top": _first(self.quantized.topk_tokens[i])}
            for i, it in enumerate(self.items)
        ]
        return {
            "model": self.model, "recipe": self.recipe, "suite": self.suite, "suite_hash": self.suite_hash,
            "n_facts": s.n,
            "reference": {"top1": s.reference_top1, "median_rank": s.reference_median_rank, "source": self.reference_source},
            "quantized": {"top1": s.quantized_top1, "median_rank": s.quantized_median_rank},
            "drop": s.drop, "relative_drop": s.relative_drop,
            "flipped": {"lost": s.lost, "gained": s.gained},
            "mcnemar_p": s.mcnemar_p,
            "quant": self.quant_info,
            "relations": [row.to_dict() for row in self.relations],
            "facts": facts,
            **self.extras,
        }


def _first(tokens: list[str]) -> str:
    return tokens[0] if tokens else ""


def _row(name: str, ref: FactScores, quant: FactScores, mask: np.ndarray) -> RelationRow:
    r, q = ref.top1[mask], quant.top1[mask]
    lost, gained = int(np.sum(r & ~q)), int(np.sum(~r & q))
    n = int(mask.sum())
    return RelationRow(
        name, n,
        float(r.mean()) if n else 0.0, float(q.mean()) if n else 0.0,
        float(np.median(ref.gold_rank[mask])) if n else 0.0, float(np.median(quant.gold_rank[mask])) if n else 0.0,
        lost, gained, mcnemar_exact(lost, gained),
    )


def compare_scores(items: list[FactItem], reference: FactScores, quantized: FactScores, *, model: str, recipe: str,
                   suite: str, suite_hash: str = "", reference_source: str = "model",
                   quant_info: dict | None = None) -> Comparison:
    if len(reference) != len(items) or len(quantized) != len(items):
        raise ValueError(f"scores do not match the suite: {len(items)} items, {len(reference)} reference, "
                         f"{len(quantized)} quantized")
    names = list(dict.fromkeys(item.relation for item in items))
    relation_of = np.array([item.relation for item in items], dtype=object)
    rows = [_row(name, reference, quantized, relation_of == name) for name in names]
    summary = _row("*", reference, quantized, np.ones(len(items), dtype=bool))
    return Comparison(model, recipe, suite, suite_hash, items, reference, quantized, summary, rows,
                      reference_source, quant_info or {})
