"""torchao backend (torchao-int8wo, torchao-int4wo[-gN]; the intx path on CPU): formulas, group rule, tiny-facts."""
from importlib.metadata import version

import pytest

from library_helpers import (dense_bytes, kept_bytes, random_linear, reference_top1, requires_tiny, target_names,
                             tiny, tiny_copy, top1)

pytest.importorskip("torchao", reason='torchao not installed (pip install "pytest-qfacts[torchao]")')

import torch  # noqa: E402

import pytest_qfacts.quant as quant  # noqa: E402
from pytest_qfacts.errors import RecipeError  # noqa: E402
from pytest_qfacts.quant.rtn import fake_quantize_  # noqa: E402


def test_int8wo_is_symmetric_per_row_over_127_5():
    model = random_linear()
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, "torchao-int8wo", device="cpu")
    weight = model[0].weight
    assert weight.qdata.dtype == torch.int8
    scale = w.abs().amax(dim=1, keepdim=True) / 127.5
    expected = torch.clamp(torch.round(w * (1.0 / scale)), -128, 127) * scale
    torch.testing.assert_close(weight.dequantize(), expected, rtol=0, atol=1e-7)
    # int8 values + float32 scale and int8 zero point per row
    assert result.weight_bytes == w.numel() + w.shape[0] * (4 + 1)
    assert (result.bits, result.group_size, result.info["kernel"]) == (8, None, "int8-weight-only")


@pytest.mark.parametrize("group", [32, 64, 128])
def test_int4wo_on_cpu_is_the_asymmetric_rtn_grid_kept_in_int8(group):
    model = random_linear()
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, f"torchao-int4wo-g{group}", device="cpu")
    weight = model[0].weight
    assert type(weight).__name__ == "IntxUnpackedToInt8Tensor" and weight.qdata.dtype == torch.int8
    assert -8 <= int(weight.qdata.min()) and int(weight.qdata.max()) <= 7
    # the independent implementation: the built-in asymmetric RTN (range widened to include 0)
    torch.testing.assert_close(weight.dequantize(), fake_quantize_(w.clone(), 4, group), rtol=0, atol=1e-6)
    assert result.info["kernel"].startswith("intx-weight-only")
    assert (result.bits, result.group_size) == (4, group)
    n_groups = w.numel() // group
    assert result.weight_bytes == w.numel() + n_groups * (4 + 1)  # int8-held values, float32 scales, int8 zeros


def test_int4wo_default_group_is_128_and_must_divide():
    model = random_linear(in_features=192, out_features=16)   # 128 does not divide 192; 32 and 64 do
    before = model[0].weight.detach().clone()
    with pytest.raises(RecipeError) as err:
        quant.quantize(model, "torchao-int4wo", device="cpu")
    msg = str(err.value)
    assert "module '0' has in_features=192, which group size 128 does not divide" in msg
    assert "accepted group sizes that divide all 1 quantized layers: 32, 64" in msg
    assert type(model[0].weight) is torch.nn.Parameter and torch.equal(model[0].weight, before)
    assert quant.quantize(model, "torchao-int4wo-g64", device="cpu").group_size == 64


@requires_tiny
@pytest.mark.parametrize("recipe, max_drop", [("torchao-int8wo", 0.02), ("torchao-int4wo-g64", 0.15)])
def test_tiny_facts_recall_and_metadata(recipe, max_drop):
    model = tiny_copy()
    names = target_names(model)
    result = quant.quantize(model, recipe, tokenizer=tiny().tokenizer, device="cpu")
    kinds = {type(model.get_submodule(n).weight).__name__ for n in names}
    assert kinds == {"Int8Tensor" if recipe == "torchao-int8wo" else "IntxUnpackedToInt8Tensor"}
    assert type(model.lm_head.weight) is torch.nn.Parameter  # lm_head kept
    assert result.library == "torchao" and result.library_version == version("torchao")
    assert result.seconds > 0 and set(result.details) == set(names)
    n = sum(tiny().model.get_submodule(name).weight.numel() for name in names)
    rows = sum(tiny().model.get_submodule(name).weight.shape[0] for name in names)
    scales = rows if result.group_size is None else n // result.group_size
    assert result.weight_bytes == kept_bytes(tiny().model, names) + n + 5 * scales < dense_bytes(tiny().model)
    ref, got = reference_top1(), top1(model)
    assert ref - max_drop <= got <= ref + 0.02, (recipe, ref, got)
