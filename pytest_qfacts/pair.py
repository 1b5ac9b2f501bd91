"""ModelPair: the reference and one quantized variant, as handed to tests by ``qfacts_pair``."""
from __future__ import annotations


class ModelPair:
    """``reference`` loads on first access: a run served by stored baselines never needs it."""

    def __init__(self, session, quantized, recipe: str):
        self.session = session
        self.quantized = quantized
        self.recipe = recipe

    @property
    def reference(self):
        return self.session.reference()

    def compare(self, suite, probes=None):
        """Score ``suite`` (a Suite, a built-in name or a path) on both models; return a ``Comparison``.

        ``probes``: which mechanistic probes run in the same forward (None: the run's
        ``--qfacts-probes``, by default those the verdict needs; "all"; "none"; or names).
        """
        if isinstance(suite, str):
            from pytest_qfacts.suites import load_suite

            suite = load_suite(suite)
        from pytest_qfacts.errors import QFactsUsageError

        try:
            return self.session.compare(suite, self.recipe, probes)
        except QFactsUsageError as err:  # a refused baseline, a bad probe name...: the message, not a traceback
            problem = str(err)
        import pytest

        pytest.fail(problem, pytrace=False)  # outside the except block: no chained traceback

    def __repr__(self) -> str:
        return f"ModelPair({self.session.spec.label!r}, {self.recipe!r})"
