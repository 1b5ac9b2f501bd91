"""pytest-qfacts: gate a quantized LLM release on whether it still knows its facts.

Importing this package is cheap (no numpy, torch or transformers): the assertion helpers
re-exported here load on first use (PEP 562 ``__getattr__``).
"""
from __future__ import annotations

__all__ = ["assert_bridge_recall", "assert_cka_above", "assert_failure_mode", "assert_recall_retained",
           "assert_signal_present", "assert_top_neurons_retained"]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in __all__:
        from pytest_qfacts import assertions

        return getattr(assertions, name)
    raise AttributeError(f"module 'pytest_qfacts' has no attribute {name!r}")
