"""optimum-quanto backend (quanto-int8, quanto-int4, quanto-int2): formulas, group sizes, inference mode, tiny-facts."""
from importlib.metadata import version

import pytest

from library_helpers import (dense_bytes, kept_bytes, random_linear, reference_top1, requires_tiny, target_names,
                             tiny, tiny_copy, top1)

pytest.importorskip("optimum.quanto", reason='optimum-quanto not installed (pip install "pytest-qfacts[quanto]")')

import torch  # noqa: E402

import pytest_qfacts.quant as quant  # noqa: E402

QLINEAR_BUFFERS = 8  # every QLinear keeps input_scale and output_scale, float32 scalars, in its state dict


def test_int8_is_symmetric_per_row_over_127():
    model = random_linear()
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, "quanto-int8", device="cpu")
    scale = w.abs().amax(dim=1, keepdim=True) / 127
    expected = torch.round(w / scale) * scale
    torch.testing.assert_close(model[0].weight.dequantize(), expected, rtol=0, atol=1e-7)
    # int8 values + a float32 scale per row + quanto's two float32 activation-scale buffers per layer
    assert result.weight_bytes == w.numel() + 4 * w.shape[0] + QLINEAR_BUFFERS
    assert (result.bits, result.group_size) == (8, None)


@pytest.mark.parametrize("bits", [4, 2])
def test_int4_int2_are_min_max_per_group_of_128_with_a_shift(bits):
    model = random_linear(256, 64)
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, f"quanto-int{bits}", device="cpu")
    groups = w.reshape(-1, 128)
    lo, hi = groups.amin(dim=1, keepdim=True), groups.amax(dim=1, keepdim=True)
    scale, shift = (hi - lo) / (2 ** bits - 1), -lo
    q = torch.clamp(torch.round((groups + shift) / scale), 0, 2 ** bits - 1)
    expected = (q * scale - shift).reshape(w.shape)
    torch.testing.assert_close(model[0].weight.dequantize(), expected, rtol=0, atol=1e-6)
    assert (result.bits, result.group_size, result.info["group_sizes"]) == (bits, 128, [128])
    per_byte = 8 // bits
    # packed values + float32 scale and shift per group + the activation-scale buffers
    assert result.weight_bytes == w.numel() // per_byte + 2 * 4 * (w.numel() // 128) + QLINEAR_BUFFERS


def test_group_size_is_quantos_choice_per_layer():
    """576 inputs (SmolLM2's width): 128 does not divide, 96 does; 64 inputs: one group per row."""
    model = torch.nn.Sequential(random_linear(576, 32)[0], torch.nn.ReLU(), random_linear(32, 576, seed=1)[0])
    result = quant.quantize(model, "quanto-int4", device="cpu")
    assert result.info["group_sizes"] == [32, 96] and result.group_size is None
    x = torch.randn(2, 576, generator=torch.Generator().manual_seed(4))
    with torch.inference_mode():   # the scorer's mode: packed quanto weights need the no_grad fallback
        out = model(x)
    assert out.shape == (2, 576) and torch.isfinite(out).all()


def test_not_cacheable():
    assert quant.backend_for("quanto-int4").cacheable is False


@requires_tiny
@pytest.mark.parametrize("recipe, max_drop", [("quanto-int8", 0.02), ("quanto-int4", 0.4)])
def test_tiny_facts_recall_and_metadata(recipe, max_drop):
    model = tiny_copy()
    names = target_names(model)
    result = quant.quantize(model, recipe, tokenizer=tiny().tokenizer, device="cpu")
    assert {type(model.get_submodule(n)).__name__ for n in names} == {"QLinear"}
    assert type(model.lm_head) is torch.nn.Linear
    assert result.library == "optimum-quanto" and result.library_version == version("optimum-quanto")
    assert result.seconds > 0 and set(result.details) == set(names)
    n = sum(tiny().model.get_submodule(name).weight.numel() for name in names)
    rows = sum(tiny().model.get_submodule(name).weight.shape[0] for name in names)
    if result.bits == 8:
        expected = n + 4 * rows
    else:   # tiny-facts: 128-wide inputs are one group per row, 256-wide ones two groups of 128
        assert result.group_size == 128
        expected = n // 2 + 2 * 4 * (n // 128)
    expected += QLINEAR_BUFFERS * len(names)
    assert result.weight_bytes == kept_bytes(tiny().model, names) + expected < dense_bytes(tiny().model)
    ref, got = reference_top1(), top1(model)
    assert ref - max_drop <= got <= ref + 0.02, (recipe, ref, got)
