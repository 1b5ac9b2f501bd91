"""--qfacts-dtype: float32 and bfloat16 load and score; auto is float32 on CPU; bad values are usage errors."""
import pytest

from plugin_helpers import CPU, KEEP, MODEL, requires_tiny, suite_yaml

DTYPE_TEST = """
import torch

def test_dtype(qfacts_session, qfacts_reference, qfacts_pair):
    assert qfacts_session.settings.dtype == {setting!r}
    assert qfacts_reference.dtype == {dtype!r}
    assert {{p.dtype for p in qfacts_reference.model.parameters()}} == {{torch.{dtype}}}
    assert {{p.dtype for p in qfacts_pair.quantized.model.parameters()}} == {{torch.{dtype}}}
    result = qfacts_pair.compare("small.qfacts.yaml")
    assert result.summary.n == 4 and result.summary.reference_top1 > 0.5
"""


@requires_tiny
@pytest.mark.parametrize("setting, dtype", [("float32", "float32"), ("bfloat16", "bfloat16"), ("auto", "float32")])
def test_dtype_loads_scores_and_gates(pytester, setting, dtype):
    pytester.makepyfile(DTYPE_TEST.format(setting=setting, dtype=dtype))
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=2))
    args = [] if setting == "auto" else [f"--qfacts-dtype={setting}"]
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", *args)
    result.assert_outcomes(passed=3)   # the python test and the YAML suite's two gates
    result.stderr.fnmatch_lines([f"qfacts: loading tiny-facts (reference, device=cpu, dtype={setting}) ..."])


@pytest.mark.parametrize("value", ["fp16", "float64", "half", "Float32"])
def test_bad_dtype_is_a_usage_error(pytester, value):
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--qfacts-dtype={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --qfacts-dtype: '{value}' is not a dtype; accepted: auto, float32, bfloat16, float16"])
