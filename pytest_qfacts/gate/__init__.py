"""Gates: pure rules over a ``Comparison`` (no model, no torch)."""
from pytest_qfacts.gate.decide import Decision, decide, defaults_from, problems_for, rules
from pytest_qfacts.gate.recall import describe_failure, recall_gate_problems

__all__ = ["Decision", "decide", "defaults_from", "describe_failure", "problems_for", "recall_gate_problems", "rules"]
