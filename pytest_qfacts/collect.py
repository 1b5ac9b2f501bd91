"""YAML fact suites as test items: one item per relation x recipe, applying the file's gate.

``*.qfacts.yaml`` files (pattern: ini ``qfacts_yaml_pattern``) are collected where
pytest looks for tests; suites named by ``--qfacts-suite`` are added to the run
even when the project has no test files.
"""
from __future__ import annotations

import pytest

from pytest_qfacts.errors import QFactsUsageError, SuiteError

SESSION_KEY = pytest.StashKey["object"]()   # the run's QFactsSession, set by the plugin at configure


class QFactsGateFailed(AssertionError):
    """A collected suite's gate did not hold (the message is the whole report)."""


def get_session(config):
    return config.stash[SESSION_KEY]


def unavailable_backend(qsession, err) -> None:
    """A recipe whose library is missing (``BackendUnavailable``): skip with the reason and the
    install command, or fail under ``--qfacts-strict``."""
    if qsession.settings.strict:
        pytest.fail(f"qfacts (--qfacts-strict): {err}", pytrace=False)
    pytest.skip(f"qfacts: {err}")


def suite_items(parent, suite, session):
    recipes = session.settings.recipes or [None]
    for relation in suite.relations:
        for recipe in recipes:
            name = f"{relation.name}[{recipe}]" if recipe else relation.name
            yield QFactsGateItem.from_parent(parent, name=name, suite=suite, relation=relation.name, recipe=recipe)


class QFactsYamlFile(pytest.File):
    def collect(self):
        from pytest_qfacts.suites.yaml_loader import load_suite_file

        try:
            suite = load_suite_file(self.path)
        except SuiteError as err:
            raise self.CollectError(f"qfacts: {err}") from None
        yield from suite_items(self, suite, get_session(self.config))


class QFactsSuiteCollector(pytest.Collector):
    """Holds the items of a suite given by --qfacts-suite (a built-in name or a path)."""

    def __init__(self, *, suite, **kwargs):
        super().__init__(**kwargs)
        self.suite = suite

    def collect(self):

        yield from suite_items(self, self.suite, get_session(self.config))


class QFactsGateItem(pytest.Item):
    def __init__(self, *, suite, relation: str, recipe: str | None, **kwargs):
        super().__init__(**kwargs)
        self.suite, self.relation, self.recipe = suite, relation, recipe
        self.add_marker("qfacts")

    def runtest(self) -> None:
        session = get_session(self.config)
        reason = session.missing_model_reason()
        if reason:
            pytest.skip(reason)
        if self.recipe is None:
            pytest.skip("qfacts: no quantization recipe configured (pass --qfacts-quant=RECIPE[,RECIPE])")
        from pytest_qfacts.gate import defaults_from, describe_failure, problems_for, rules
        from pytest_qfacts.quant import BackendUnavailable

        try:
            result = session.compare(self.suite, self.recipe)
        except BackendUnavailable as err:
            unavailable_backend(session, err)
        problems = problems_for(result, rules(defaults_from(session.settings), self.suite.gate), self.relation)
        row = result.relation(self.relation)
        self.user_properties += [("qfacts_reference_top1", row.reference_top1), ("qfacts_quantized_top1", row.quantized_top1),
                                 ("qfacts_lost", row.lost)]
        if problems:
            raise QFactsGateFailed(describe_failure(result, problems, relation=self.relation))

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, (QFactsGateFailed, QFactsUsageError)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self):
        return self.path, None, f"qfacts suite {self.suite.name}::{self.relation} [{self.recipe}]"
