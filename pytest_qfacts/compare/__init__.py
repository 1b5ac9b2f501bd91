"""Pairing reference and quantized scores: per fact, per relation, per suite."""
from pytest_qfacts.compare.comparison import Comparison, LostFact, RelationRow, compare_scores

__all__ = ["Comparison", "LostFact", "RelationRow", "compare_scores"]
