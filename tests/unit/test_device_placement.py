"""models.device.plan_placement: when a model is spread over several GPUs (device_map), pure logic."""
from pytest_qfacts.models.device import plan_placement

GiB = 1 << 30


def test_one_device_that_fits_is_not_spread():
    assert plan_placement(["cuda:0"], 10 * GiB, {0: 80 * GiB, 1: 80 * GiB}) is None
    assert plan_placement([], 10 * GiB, {0: 80 * GiB}) is None


def test_several_listed_devices_are_spread_over_those_only():
    kw = plan_placement(["cuda:1", "cuda:3"], 1 * GiB, {0: 80 * GiB, 1: 40 * GiB, 2: 80 * GiB, 3: 20 * GiB})
    assert kw["device_map"] == "auto"
    assert kw["max_memory"] == {1: int(40 * GiB * 0.9), 3: int(20 * GiB * 0.9)}


def test_too_large_for_one_gpu_spreads_over_all_visible():
    kw = plan_placement(["cuda:0"], 140 * GiB, {0: 80 * GiB, 1: 80 * GiB})
    assert kw == {"device_map": "auto", "max_memory": {0: int(72 * GiB), 1: int(72 * GiB)}}


def test_too_large_with_a_single_gpu_is_left_to_fail_loudly():
    """One GPU only: nothing to spread over (transformers reports the out-of-memory itself)."""
    assert plan_placement(["cuda:0"], 140 * GiB, {0: 80 * GiB}) is None
