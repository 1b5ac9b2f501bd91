"""Resolving model names to weights and loading them (torch is imported lazily)."""
from pytest_qfacts.models.registry import ModelSpec, known_aliases, resolve_model

__all__ = ["ModelSpec", "known_aliases", "resolve_model"]
