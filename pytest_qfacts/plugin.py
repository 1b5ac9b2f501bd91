"""pytest-qfacts wiring: options, ini keys, fixtures and hooks. Nothing heavy is imported here.

torch and transformers load only inside fixtures, when a test asks for a model.
"""
from __future__ import annotations

import fnmatch

import pytest

from pytest_qfacts.collect import SESSION_KEY as _SESSION
from pytest_qfacts.collect import get_session, unavailable_backend
from pytest_qfacts.errors import QFactsUsageError


def pytest_addoption(parser):
    from pytest_qfacts.options import add_pytest_options

    add_pytest_options(parser)


def pytest_configure(config):
    from pytest_qfacts.outputs import check_settings_outputs, pytest_inputs
    from pytest_qfacts.progress import Progress
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import read_settings

    config.addinivalue_line("markers", "qfacts: a factual-recall gate of pytest-qfacts")
    try:
        settings = read_settings(config)
        check_settings_outputs(settings, pytest_inputs(config))  # before any model loads
        session = QFactsSession(settings, Progress(config, quiet=settings.quiet))
        if settings.model:
            _ = session.spec  # resolve now: an unknown alias is a usage error, before any test runs
        session.cli_suites = _load_cli_suites(settings.suites)
        if settings.strict:  # a library known to be missing is a usage error up front
            from pytest_qfacts.quant import check_available

            for recipe in settings.recipes:
                check_available(recipe)
    except QFactsUsageError as err:
        raise pytest.UsageError(str(err)) from None
    config.stash[_SESSION] = session
    config.pluginmanager.register(_RecipeOrder(), "qfacts-recipe-order")
    from pytest_qfacts.xdist_support import XdistHooks, is_worker

    if not is_worker(config):
        import uuid

        settings.run_id = uuid.uuid4().hex  # workers receive the controller's (pytest_configure_node)
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(XdistHooks(session), "qfacts-xdist")


def _load_cli_suites(names):
    from pytest_qfacts.suites import load_suite

    return [load_suite(name) for name in names]


def pytest_unconfigure(config):
    session = config.stash.get(_SESSION, None)
    if session is not None:
        session.close()


# -- collection ------------------------------------------------------------------
def pytest_collect_file(file_path, parent):
    session = parent.config.stash.get(_SESSION, None)
    pattern = session.settings.yaml_pattern if session else "*.qfacts.yaml"
    if fnmatch.fnmatch(file_path.name, pattern):
        from pytest_qfacts.collect import QFactsYamlFile

        return QFactsYamlFile.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(session, config, items):
    """Add the items of --qfacts-suite (before -k/-m deselection sees them)."""
    from pytest_qfacts.collect import QFactsSuiteCollector

    for suite in get_session(config).cli_suites:
        collector = QFactsSuiteCollector.from_parent(session, name=f"qfacts-suite:{suite.name}",
                                                     nodeid=f"qfacts-suite:{suite.name}", suite=suite)
        added = list(collector.collect())
        items.extend(added)
        # tell the reporters, so "collected N items" counts them
        config.hook.pytest_collectreport(report=pytest.CollectReport(collector.nodeid, "passed", None, added))


def _recipe_of(item):
    recipe = getattr(item, "recipe", None)
    if recipe is None and hasattr(item, "callspec"):
        recipe = item.callspec.params.get("qfacts_recipe")
    return recipe


class _RecipeOrder:
    """Registered at configure: runs after pytest's own fixture-based reordering."""

    @pytest.hookimpl(trylast=True)
    def pytest_collection_modifyitems(self, session, config, items):
        order_by_recipe(config, items)


def order_by_recipe(config, items) -> None:
    """One quantized model at a time: run everything that uses a recipe grouped by recipe.

    The recipe-dependent items leave their places and run together, recipe by recipe (in
    --qfacts-quant order, each group in its original order), where the last of them stood:
    an item only ever moves later, so module order and fixtures before it are unchanged.
    """
    order = {r: n for n, r in enumerate(get_session(config).settings.recipes)}
    moving = [item for item in items if _recipe_of(item) in order]
    if len(order) < 2 or not moving:
        return
    last = max(i for i, item in enumerate(items) if _recipe_of(item) in order)
    before = [item for item in items[:last + 1] if _recipe_of(item) not in order]
    after = items[last + 1:]
    items[:] = before + sorted(moving, key=lambda it: order[_recipe_of(it)]) + after


def pytest_generate_tests(metafunc):
    if not {"qfacts_quantized", "qfacts_pair", "qfacts_recipe"} & set(metafunc.fixturenames):
        return
    settings = get_session(metafunc.config).settings
    if settings.recipes:
        params = settings.recipes
    else:
        skip = pytest.mark.skip(reason="qfacts: no quantization recipe configured (pass --qfacts-quant=RECIPE[,RECIPE])")
        params = [pytest.param(None, marks=skip)]
    metafunc.parametrize("qfacts_recipe", params, indirect=True, scope="session", ids=lambda r: r or "no-recipe")


# -- fixtures ---------------------------------------------------------------------
@pytest.fixture(scope="session")
def qfacts_session(request):
    """The run-wide qfacts state (models, cached scores, comparisons)."""
    return get_session(request.config)


def _need_model(qsession):
    reason = qsession.missing_model_reason()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session")
def qfacts_reference(qfacts_session):
    """The full-precision model (a ``LoadedModel``: .model, .tokenizer, .device, .dtype), loaded once per run."""
    _need_model(qfacts_session)
    try:
        return qfacts_session.reference()
    except QFactsUsageError as err:
        problem = str(err)
    pytest.fail(f"qfacts: {problem}", pytrace=False)  # outside the except block: no chained traceback


@pytest.fixture(scope="session")
def qfacts_recipe(request):
    """The quantization recipe of this test's parameter (one test id per recipe)."""
    return request.param


@pytest.fixture(scope="session")
def qfacts_quantized(qfacts_session, qfacts_recipe):
    """The quantized model for this recipe; released before the next recipe's model loads."""
    _need_model(qfacts_session)
    from pytest_qfacts.quant import BackendUnavailable

    problem = None
    try:
        loaded, _ = qfacts_session.quantized(qfacts_recipe)
    except BackendUnavailable as err:
        unavailable_backend(qfacts_session, err)
    except QFactsUsageError as err:  # a recipe that cannot apply to this model, a device that is not there...
        problem = str(err)
    if problem is not None:  # outside the except block: one paragraph, no chained traceback
        pytest.fail(f"qfacts: {problem}", pytrace=False)
    yield loaded
    qfacts_session.release_quantized(qfacts_recipe)


@pytest.fixture(scope="session")
def qfacts_pair(qfacts_session, qfacts_quantized, qfacts_recipe):
    """Reference + one quantized variant, with ``.compare(suite)``; the reference model loads
    only when a comparison needs it (not at all when stored baselines serve every suite)."""
    from pytest_qfacts.pair import ModelPair

    return ModelPair(qfacts_session, qfacts_quantized, qfacts_recipe)


@pytest.fixture(scope="session")
def qfacts_suite():
    """``qfacts_suite(name_or_path)`` loads a built-in suite or a YAML/LRE file."""
    from pytest_qfacts.suites import load_suite

    return load_suite


# -- outcomes, reports --------------------------------------------------------------
def pytest_runtest_setup(item):
    qsession = item.config.stash.get(_SESSION, None)
    if qsession is not None:
        qsession.touched = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    if call.when == "call":
        qsession = item.config.stash.get(_SESSION, None)
        if qsession is not None:
            item.user_properties.extend(qsession.key_numbers())  # JUnit XML <property> entries (read at teardown)
            qsession.record_outcome(report.passed, report.failed)
    return report


def pytest_terminal_summary(terminalreporter):
    from pytest_qfacts.report.terminal import write_summary
    from pytest_qfacts.xdist_support import is_worker

    qsession = terminalreporter.config.stash.get(_SESSION, None)
    if qsession is not None and not is_worker(terminalreporter.config):
        write_summary(terminalreporter, qsession.report()["runs"])
        if qsession.settings.report:
            terminalreporter.write_line(f"qfacts: JSON report written to {qsession.settings.report}")
        if qsession.settings.html:
            terminalreporter.write_line(f"qfacts: HTML report written to {qsession.settings.html}")


def pytest_sessionfinish(session, exitstatus):
    from pytest_qfacts.xdist_support import is_worker, send_to_controller

    qsession = session.config.stash.get(_SESSION, None)
    if qsession is None:
        return
    if is_worker(session.config):  # the controller writes the reports, from every worker's runs
        send_to_controller(session.config, qsession)
        return
    settings = qsession.settings
    if settings.report or settings.html:
        report = qsession.report()  # built once, for both files
        if exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR):
            # an interrupted run writes what it measured, marked so that nothing trusts it as a whole run
            report["complete"] = False
            how = "interrupted" if exitstatus == pytest.ExitCode.INTERRUPTED else "stopped by an internal error"
            report["incomplete_reason"] = (f"the test run was {how} "
                                           f"after {len(report['runs'])} run(s); rerun it for a complete report")
        if settings.report:
            from pytest_qfacts.report.json_report import write_report_dict

            write_report_dict(settings.report, report)
        if settings.html:
            from pytest_qfacts.report.html import write_html

            write_html(settings.html, report)
