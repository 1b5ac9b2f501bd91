"""pytest-qfacts: gate a quantized LLM release on whether it still knows its facts.

Importing this package is cheap: torch and transformers load only when a model
is needed. The assertion helpers are re-exported here.
"""
from pytest_qfacts.assertions import (
    assert_bridge_recall,
    assert_cka_above,
    assert_failure_mode,
    assert_recall_retained,
    assert_signal_present,
    assert_top_neurons_retained,
)

__all__ = ["assert_bridge_recall", "assert_cka_above", "assert_failure_mode", "assert_recall_retained",
           "assert_signal_present", "assert_top_neurons_retained"]
__version__ = "0.1.0"
