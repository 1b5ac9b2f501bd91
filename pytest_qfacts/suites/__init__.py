"""Fact suites: the schema, the YAML and LRE loaders, and the built-in suites.

No torch/transformers here: loading a suite is cheap and works without a model.
"""
from .builtin import list_builtin_suites, load_suite
from .lre import load_lre_file
from .schema import Fact, FactItem, Relation, Suite
from .yaml_loader import load_suite_file, load_suite_text

__all__ = [
    "Fact", "FactItem", "Relation", "Suite",
    "list_builtin_suites", "load_suite", "load_suite_file", "load_suite_text", "load_lre_file",
]
