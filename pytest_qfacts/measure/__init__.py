"""The measuring step: ``plan`` lists every forward a suite and its probes need, ``measure``
runs them on one model and returns its ``ModelRun``. The only code that runs a model forward
(through ``scoring/`` and ``trace/``)."""
from pytest_qfacts.measure.measure import compare_models, measure
from pytest_qfacts.measure.plan import Plan, make_plan

__all__ = ["Plan", "compare_models", "make_plan", "measure"]
