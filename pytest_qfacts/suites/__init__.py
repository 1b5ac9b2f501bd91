"""Fact suites: the schema, the YAML and LRE loaders, and the built-in suites.

No torch/transformers here: loading a suite is cheap and works without a model.
"""
from .builtin import list_builtin_suites, load_suite
from .lre import load_lre_file
from .pararel import load_pararel
from .schema import Fact, FactItem, Relation, Suite
from .twohop_fact import load_twohop_fact_csv
from .twohop_suite import TwoHopItem, TwoHopSuite
from .yaml_loader import load_suite_file, load_suite_text

__all__ = [
    "Fact", "FactItem", "Relation", "Suite", "TwoHopItem", "TwoHopSuite",
    "list_builtin_suites", "load_suite", "load_suite_file", "load_suite_text", "load_lre_file",
    "load_pararel", "load_twohop_fact_csv",
]
