"""ModelPair: the reference and one quantized variant, as handed to tests by ``qfacts_pair``."""
from __future__ import annotations


class ModelPair:
    def __init__(self, session, reference, quantized, recipe: str):
        self.session = session
        self.reference = reference
        self.quantized = quantized
        self.recipe = recipe

    def compare(self, suite, probes=None):
        """Score ``suite`` (a Suite, a built-in name or a path) on both models; return a ``Comparison``.

        ``probes``: which mechanistic probes run in the same forward (None: the run's
        ``--qfacts-probes``, by default those the verdict needs; "all"; "none"; or names).
        """
        if isinstance(suite, str):
            from pytest_qfacts.suites import load_suite

            suite = load_suite(suite)
        return self.session.compare(suite, self.recipe, probes)

    def __repr__(self) -> str:
        return f"ModelPair({self.reference.spec.label!r}, {self.recipe!r})"
