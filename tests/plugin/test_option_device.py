"""--qfacts-device: cpu works, auto picks cpu without CUDA, bad spellings and missing CUDA are clear errors."""
import pytest

from plugin_helpers import KEEP, MODEL, known_relations, requires_tiny, suite_yaml

DEVICE_TEST = """
def test_device(qfacts_session, qfacts_reference, qfacts_quantized):
    assert qfacts_session.settings.device == {setting!r}
    assert qfacts_reference.device == {device!r} and qfacts_quantized.device == {device!r}
    assert {{p.device.type for p in qfacts_reference.model.parameters()}} == {{{device!r}}}
    assert {{p.device.type for p in qfacts_quantized.model.parameters()}} == {{{device!r}}}
"""


def _cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


@requires_tiny
def test_cpu_device_runs_models_and_gates_on_cpu(pytester):
    pytester.makepyfile(DEVICE_TEST.format(setting="cpu", device="cpu"))
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=2))
    result = pytester.runpytest(MODEL, "--qfacts-device=cpu", f"--qfacts-quant={KEEP}")
    result.assert_outcomes(passed=3)
    result.stderr.fnmatch_lines(["qfacts: loading tiny-facts (reference, device=cpu, dtype=auto) ..."])


@requires_tiny
def test_auto_device_is_cpu_without_cuda(pytester):
    if _cuda_available():
        pytest.skip("CUDA is available here: auto means cuda")
    pytester.makepyfile(DEVICE_TEST.format(setting="auto", device="cpu"))
    result = pytester.runpytest(MODEL, f"--qfacts-quant={KEEP}")
    result.assert_outcomes(passed=1)


@pytest.mark.parametrize("value", ["gpu", "cuda:", "cuda:x", "CPU", "mps"])
def test_bad_device_is_a_usage_error_listing_choices(pytester, value):
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest(f"--qfacts-device={value}")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"ERROR: --qfacts-device: '{value}' is not a device; accepted: auto, cpu, cuda, cuda:N"])


def test_bad_device_in_ini_is_a_usage_error(pytester):
    pytester.makeini("[pytest]\nqfacts_device = tpu\n")
    pytester.makepyfile("def test_never_runs(): pass")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["ERROR: --qfacts-device: 'tpu' is not a device; accepted: auto, cpu, cuda, cuda:N"])


@requires_tiny
@pytest.mark.parametrize("value", ["cuda", "cuda:0"])
def test_cuda_without_cuda_is_a_clear_error(pytester, value):
    if _cuda_available():
        pytest.skip("this machine has CUDA")
    pytester.makepyfile("def test_reference(qfacts_reference):\n    raise AssertionError('loaded?!')\n")
    relation = known_relations(1, 2)[0]
    pytester.makefile(".qfacts.yaml", small=suite_yaml(relations=(relation,), n=2))
    result = pytester.runpytest(MODEL, f"--qfacts-device={value}", f"--qfacts-quant={KEEP}")
    result.assert_outcomes(errors=1, failed=1)
    message = f"--qfacts-device={value}: CUDA is not available on this machine; use cpu or auto"
    result.stdout.fnmatch_lines([f"qfacts: {message}"])          # the fixture's error: the message, no traceback
    assert "QFactsUsageError" not in result.stdout.str()
    result.stdout.fnmatch_lines([f"*_ qfacts suite small::{relation} [[]rtn-w8g64[]] _*", message])  # the gate item
    assert "loaded?!" not in result.stdout.str()
