"""Deciding a comparison's gate: one rule set, every relation, one decision.

``rules(defaults, suite_gate)`` merges the run's defaults (``--qfacts-max-drop``,
``--qfacts-min-reference-accuracy``) with a suite's own ``gate:`` block (the suite wins).
``decide(comparison, rules)`` checks each relation; the decision is what the JSON report's
``gate`` holds (``passed``, ``checked`` relations, ``failed`` relations) plus the problems.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from pytest_qfacts.gate.recall import describe_failure, recall_gate_problems
from pytest_qfacts.suites.yaml_header import GATE_KEYS as RULE_KEYS  # the keys a suite's gate: may set


def defaults_from(settings) -> dict:
    """The run's gate rules before a suite's own ``gate:`` block, from its settings."""
    return {"max_drop": settings.max_drop, "min_reference_accuracy": settings.min_reference_accuracy}


def rules(defaults: dict, suite_gate: dict | None = None) -> dict:
    """The rules of one suite: ``defaults`` overridden by the suite's ``gate:`` keys."""
    merged = {k: v for k, v in defaults.items() if k in RULE_KEYS}
    merged.update({k: v for k, v in (suite_gate or {}).items() if k in RULE_KEYS})
    return merged


def problems_for(comparison, rule_set: dict, relation: str | None) -> list[str]:
    """The violations of ``rule_set`` by one relation (or the whole suite when ``relation`` is None)."""
    return recall_gate_problems(comparison, max_drop=rule_set.get("max_drop"),
                                relative=bool(rule_set.get("relative", False)),
                                min_accuracy=rule_set.get("min_accuracy"), relation=relation,
                                min_reference_accuracy=rule_set.get("min_reference_accuracy"))


@dataclass
class Decision:
    passed: bool
    checked: int
    failed: int
    problems: dict = field(default_factory=dict)   # relation -> its violations (only failing relations)

    def to_report(self) -> dict:
        return {"passed": self.passed, "checked": self.checked, "failed": self.failed}

    def failure_message(self, comparison) -> str | None:
        """The failure message of every failing relation (``describe_failure``), or None when the gate holds."""
        if not self.problems:
            return None
        return describe_failure(comparison, [p for found in self.problems.values() for p in found])


def decide(comparison, rule_set: dict) -> Decision:
    """Check every relation of ``comparison`` against ``rule_set``."""
    problems = {}
    for row in comparison.relations:
        found = problems_for(comparison, rule_set, row.relation)
        if found:
            problems[row.relation] = found
    return Decision(not problems, len(comparison.relations), len(problems), problems)
