"""Robust and failure subsets of a run (003 §3.1): report block and suites for the probes.

``subsets.robust`` / ``subsets.failure`` in the report: ``n`` prompts, ``fraction`` of
all prompts, ``indices`` into the run's ``facts`` list, and ``relations`` (prompts per
relation). ``subset_suite(comparison, "failure")`` turns a subset back into a ``Suite``
so that the probes can run on exactly those facts::

    result = qfacts_pair.compare(suite)
    failing = qfacts_pair.compare(result.subset_suite("failure"), probes="all")
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.metrics.subsets import SUBSETS, subset_mask
from pytest_qfacts.suites.from_items import suite_from_items


def subsets_block(comparison) -> dict:
    n = len(comparison.items)
    out = {}
    for name in SUBSETS:
        mask = subset_mask(name, comparison.reference.top1, comparison.quantized.top1)
        per_relation: dict[str, int] = {}
        for i in np.flatnonzero(mask):
            rel = comparison.items[i].relation
            per_relation[rel] = per_relation.get(rel, 0) + 1
        out[name] = {"n": int(mask.sum()), "fraction": float(mask.mean()) if n else 0.0,
                     "indices": [int(i) for i in np.flatnonzero(mask)], "relations": per_relation}
    return out


def subset_suite(comparison, name: str):
    """The prompts of subset ``name`` (``robust`` or ``failure``) as a ``Suite`` named ``<suite>:<name>[<recipe>]``."""
    if name not in SUBSETS:
        raise QFactsUsageError(f"unknown subset {name!r}; accepted: {', '.join(SUBSETS)}")
    mask = subset_mask(name, comparison.reference.top1, comparison.quantized.top1)
    chosen = [comparison.items[i] for i in np.flatnonzero(mask)]
    if not chosen:
        raise QFactsUsageError(f"the {name} subset of {comparison.model} [{comparison.recipe}] on suite "
                               f"'{comparison.suite}' is empty; nothing to probe")
    return suite_from_items(f"{comparison.suite}:{name}[{comparison.recipe}]", chosen,
                            description=f"the {name} subset (003 §3.1) of a run")
