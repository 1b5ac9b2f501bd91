"""HQQ backend (hqq-w{1,2,3,4,8}g{N}) through hqq's own API: grid, forward, group-size rule, tiny-facts."""
from importlib.metadata import version

import pytest

from library_helpers import (dense_bytes, kept_bytes, random_linear, reference_top1, requires_tiny, target_names,
                             tiny, tiny_copy, top1)

pytest.importorskip("hqq", reason='hqq not installed (pip install "pytest-qfacts[hqq]")')

import torch  # noqa: E402

import pytest_qfacts.quant as quant  # noqa: E402
from pytest_qfacts.errors import RecipeError  # noqa: E402
from pytest_qfacts.quant.rtn import fake_quantize_  # noqa: E402


@pytest.mark.parametrize("bits", [8, 4, 3, 2])
def test_weights_lie_on_the_group_grid_and_the_forward_uses_them(bits):
    model = random_linear(256, 64)
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, f"hqq-w{bits}g64", device="cpu")
    layer = model[0]
    assert type(layer).__name__ == "HQQLinear"
    deq = layer.dequantize().float()
    scale, zero = layer.meta["scale"], layer.meta["zero"]
    assert scale.shape == zero.shape == (w.numel() // 64, 1)  # one scale and zero per group of 64 inputs of a row
    levels = deq.reshape(-1, 64) / scale + zero               # (W_q - zero) * scale = W'  =>  W'/scale + zero = W_q
    assert (levels - levels.round()).abs().max() < 1e-3
    assert levels.round().min() >= 0 and levels.round().max() <= 2 ** bits - 1
    x = torch.randn(4, 256, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(model(x), x @ deq.T, rtol=1e-5, atol=1e-5)
    # bytes: packed values + float32 scale and zero per group
    packed = {8: w.numel(), 4: w.numel() // 2, 2: w.numel() // 4, 3: layer.W_q.numel() * 4}[bits]
    assert result.weight_bytes == packed + 2 * 4 * (w.numel() // 64)
    assert (result.bits, result.group_size) == (bits, 64)


def test_4bit_error_is_below_plain_round_to_nearest():
    """HQQ refines min-max scales and zeros; at 4 bits its mean error is below plain RTN's."""
    model = random_linear(256, 64)
    w = model[0].weight.detach().clone()
    quant.quantize(model, "hqq-w4g64", device="cpu")
    hqq_error = (model[0].dequantize().float() - w).abs().mean()
    rtn_error = (fake_quantize_(w.clone(), 4, 64) - w).abs().mean()
    assert hqq_error < rtn_error


def test_a_group_size_that_does_not_divide_is_refused_before_any_change():
    model = random_linear(in_features=96, out_features=32)
    before = model[0].weight.detach().clone()
    with pytest.raises(RecipeError) as err:
        quant.quantize(model, "hqq-w4g64", device="cpu")
    msg = str(err.value)
    assert "module '0' has in_features=96" in msg and "group size 64" in msg
    assert "accepted group sizes that divide all 1 quantized layers: 8, 16, 24, 32, 48, 96" in msg
    assert type(model[0]) is torch.nn.Linear and torch.equal(model[0].weight, before)


@requires_tiny
@pytest.mark.parametrize("recipe, max_drop", [("hqq-w8g64", 0.02), ("hqq-w4g64", 0.15)])
def test_tiny_facts_recall_and_metadata(recipe, max_drop):
    model = tiny_copy()
    names = target_names(model)
    result = quant.quantize(model, recipe, tokenizer=tiny().tokenizer, device="cpu")
    assert {type(model.get_submodule(n)).__name__ for n in names} == {"HQQLinear"}
    assert type(model.lm_head) is torch.nn.Linear
    assert result.library == "hqq" and result.library_version == version("hqq")
    assert result.seconds > 0 and set(result.details) == set(names)
    bits = result.bits
    n = sum(tiny().model.get_submodule(name).weight.numel() for name in names)
    expected = kept_bytes(tiny().model, names) + n * bits // 8 + 2 * 4 * (n // 64)
    assert result.weight_bytes == expected < dense_bytes(tiny().model)
    ref, got = reference_top1(), top1(model)
    assert ref - max_drop <= got <= ref + 0.02, (recipe, ref, got)


@requires_tiny
def test_cache_stores_and_reads_back_the_same_model(tmp_path, monkeypatch):
    """The quantized-model cache: a second identical request loads the stored HQQ layers, no solver run."""
    from pytest_qfacts.quant.hqq import HQQBackend
    from pytest_qfacts.quant.cache import QuantCache, cached_quantize

    cache = QuantCache(tmp_path)
    first = cached_quantize(tiny(), "hqq-w4g64", cache=cache)
    assert first.info["cache"] == "stored"

    def no_quantize(*args, **kwargs):
        raise AssertionError("quantized again instead of reading the cache")

    monkeypatch.setattr(HQQBackend, "quantize", no_quantize)
    second = cached_quantize(tiny(), "hqq-w4g64", cache=cache)
    assert second.info["cache"] == "hit"
    assert (second.bits, second.group_size, second.weight_bytes) == (first.bits, first.group_size, first.weight_bytes)
    names = target_names(tiny().model)
    assert {type(second.model.get_submodule(n)).__name__ for n in names} == {"HQQLinear"}
    x = tiny().tokenizer("The capital of", return_tensors="pt").input_ids
    with torch.inference_mode():
        torch.testing.assert_close(second.model(x).logits, first.model(x).logits, rtol=0, atol=1e-6)
    for name in names:
        torch.testing.assert_close(second.model.get_submodule(name).dequantize(),
                                   first.model.get_submodule(name).dequantize(), rtol=0, atol=0)
