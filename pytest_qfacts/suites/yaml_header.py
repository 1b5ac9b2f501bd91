"""The top-level fields every ``.qfacts.yaml`` file shares, whatever its facts: name, description, gate.

Read here for both file kinds (``relations:`` in yaml_loader.py, ``twohop:`` in twohop_yaml.py),
so neither loader imports the other's private helpers.
"""
from __future__ import annotations

from yaml.nodes import Node

from ._nodes import Reader

GATE_KEYS = ("max_drop", "relative", "per_relation", "min_accuracy", "min_reference_accuracy")
#: gate keys whose value is a fraction in [0, 1]; the others are booleans
FRACTION_GATE_KEYS = ("max_drop", "min_accuracy", "min_reference_accuracy")
_NAME = "a non-empty suite name"


def suite_header(r: Reader, top: dict, root: Node) -> tuple[str, str]:
    """``(name, description)`` of a suite; ``top`` is the checked top-level mapping of ``root``."""
    name = r.string(r.required(top, "name", root, "", _NAME), "name", _NAME)
    description = r.string(top["description"][1], "description", allow_empty=True) if "description" in top else ""
    return name, description


def suite_gate(r: Reader, top: dict) -> dict:
    """The ``gate:`` settings (``{}`` when absent): fractions for FRACTION_GATE_KEYS, booleans otherwise."""
    if "gate" not in top:
        return {}
    m = r.mapping(top["gate"][1], "gate", GATE_KEYS, "gate settings")
    gate: dict = {}
    for key, (_, value_node) in m.items():
        field = f"gate.{key}"
        fraction = key in FRACTION_GATE_KEYS
        gate[key] = r.fraction(value_node, field) if fraction else r.boolean(value_node, field)
    return gate
