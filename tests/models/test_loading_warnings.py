"""Loading a model shows the user none of torch's own ``torch.jit`` DeprecationWarnings.

With hqq installed, transformers' first model import runs hqq's ``torch.compile``, which imports
``torch.utils.mkldnn`` and its deprecated ``@torch.jit.script_method`` decorators: 14 warnings in the
summary of the README's main command before ``models.loading`` silenced them. A fresh interpreter,
because the warnings come once per process, at that first import (without hqq there is nothing to
silence and the test passes either way).
"""
import json
import subprocess
import sys

LOAD_AND_RECORD = """
import json, warnings
with warnings.catch_warnings(record=True) as seen:
    warnings.simplefilter("always")
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model
    load_model(resolve_model("tiny-facts"), device="cpu")
print(json.dumps([f"{w.category.__name__}: {w.message}" for w in seen]))
"""


def test_loading_a_model_shows_no_torch_jit_deprecation():
    done = subprocess.run([sys.executable, "-c", LOAD_AND_RECORD], capture_output=True, text=True, check=True)
    shown = json.loads(done.stdout.strip().splitlines()[-1])
    assert [w for w in shown if "torch.jit" in w] == []
