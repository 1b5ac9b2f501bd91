"""Teacher-forced recall scoring: the only code (with trace/) that runs a forward pass."""
from pytest_qfacts.scoring.results import FactScores

__all__ = ["FactScores"]
