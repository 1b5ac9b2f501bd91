"""Paraphrase robustness (ParaRel, Elazar et al. 2021; 003 appendix A.2). Pure numpy.

A fact asked with k >= 2 paraphrases (templates) is one *group* of k scored prompts;
``groups`` gives each prompt's group id, and facts with a single prompt take no part.
With ``correct`` (top-1 right) and ``pred`` (the top-1 token id) per prompt:

    accuracy over paraphrases = mean over facts f of  (1/k_f) Σ_i correct_{f,i}
    all correct               = fraction of facts right under every paraphrase
    consistency               = Σ_f #{i<j : pred_{f,i} = pred_{f,j}} / Σ_f C(k_f, 2)

Consistency counts agreeing paraphrase pairs over all pairs of all facts, whether the
agreed answer is right or not (Elazar et al.'s "consistency"); NaN when no fact has
two paraphrases.
"""
from __future__ import annotations

import numpy as np


def _members(groups: np.ndarray) -> list[np.ndarray]:
    """Indices of every group with at least two members, in group-id order."""
    groups = np.asarray(groups)
    ids, counts = np.unique(groups, return_counts=True)
    return [np.flatnonzero(groups == g) for g in ids[counts >= 2]]


def pair_counts(pred: np.ndarray, groups: np.ndarray) -> tuple[int, int]:
    """(agreeing pairs, all pairs) over the paraphrase pairs of every fact."""
    pred = np.asarray(pred)
    agree = total = 0
    for idx in _members(groups):
        _, counts = np.unique(pred[idx], return_counts=True)
        agree += int(np.sum(counts * (counts - 1) // 2))
        total += len(idx) * (len(idx) - 1) // 2
    return agree, total


def consistency(pred: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of paraphrase pairs whose predictions agree (NaN without pairs)."""
    agree, total = pair_counts(pred, groups)
    return agree / total if total else float("nan")


def accuracy_over_paraphrases(correct: np.ndarray, groups: np.ndarray) -> float:
    """Mean over facts (with >= 2 paraphrases) of the fraction of their paraphrases answered right."""
    correct = np.asarray(correct, dtype=np.float64)
    per_fact = [correct[idx].mean() for idx in _members(groups)]
    return float(np.mean(per_fact)) if per_fact else float("nan")


def all_paraphrases_correct(correct: np.ndarray, groups: np.ndarray) -> float:
    """Fraction of facts (with >= 2 paraphrases) answered right under every paraphrase."""
    correct = np.asarray(correct, dtype=bool)
    per_fact = [bool(correct[idx].all()) for idx in _members(groups)]
    return float(np.mean(per_fact)) if per_fact else float("nan")


def n_groups(groups: np.ndarray) -> int:
    """Facts with at least two paraphrases."""
    return len(_members(groups))
