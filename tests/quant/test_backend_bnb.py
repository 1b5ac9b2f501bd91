"""bitsandbytes backend (bnb-int8, bnb-nf4, bnb-fp4, -dq) on CPU: formulas, CPU pitfalls, tiny-facts."""
import logging
from importlib.metadata import version

import pytest

from library_helpers import (dense_bytes, kept_bytes, random_linear, reference_top1, requires_tiny, target_names,
                             tiny, tiny_copy, top1)

pytest.importorskip("bitsandbytes", reason='bitsandbytes not installed (pip install "pytest-qfacts[bnb]")')
pytest.importorskip("accelerate")

import torch  # noqa: E402

import pytest_qfacts.quant as quant  # noqa: E402


def test_int8_is_llm_int8_rowwise_absmax_of_the_float16_weight():
    import bitsandbytes.functional as F

    model = random_linear()
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, "bnb-int8", device="cpu")
    layer = model[0]
    assert type(layer).__name__ == "Linear8bitLt" and layer.weight.dtype == torch.int8
    deq = F.int8_vectorwise_dequant(layer.weight.data, layer.weight.SCB)
    w16 = w.half().float()
    absmax = w16.abs().amax(dim=1, keepdim=True)
    expected = torch.round(w16 * (127.0 / absmax)) * absmax / 127
    torch.testing.assert_close(deq, expected, rtol=0, atol=1e-6)
    # bytes: int8 weights + one float32 scale per row
    assert result.weight_bytes == w.numel() + 4 * w.shape[0]
    assert (result.bits, result.group_size) == (8, None)


@pytest.mark.parametrize("kind", ["nf4", "fp4"])
def test_4bit_is_the_nearest_code_times_the_absmax_of_each_block_of_64(kind):
    import bitsandbytes.functional as F

    model = random_linear()
    w = model[0].weight.detach().clone()
    result = quant.quantize(model, f"bnb-{kind}", device="cpu")
    state = model[0].weight.quant_state
    assert state.blocksize == 64 and state.quant_type == kind
    code = state.code.float()
    blocks = w.reshape(-1, 64)
    absmax = blocks.abs().amax(dim=1, keepdim=True)
    nearest = ((blocks / absmax).unsqueeze(-1) - code).abs().argmin(dim=-1)
    expected = (code[nearest] * absmax).reshape(w.shape)
    deq = F.dequantize_4bit(model[0].weight.data, state)
    torch.testing.assert_close(deq, expected, rtol=0, atol=1e-6)
    # bytes: two codes per byte + a float32 absmax per block + the serialised state (code table, metadata)
    floor = w.numel() // 2 + 4 * (w.numel() // 64)
    assert floor < result.weight_bytes < floor + 400, result.weight_bytes
    assert (result.bits, result.group_size) == (4, 64)


def test_double_quant_stores_the_block_scales_in_8_bits():
    plain, dq = random_linear(2048, 128), random_linear(2048, 128)
    a = quant.quantize(plain, "bnb-nf4", device="cpu")
    b = quant.quantize(dq, "bnb-nf4-dq", device="cpu")
    assert dq[0].weight.quant_state.nested and not plain[0].weight.quant_state.nested
    assert b.info["double_quant"] is True and a.info["double_quant"] is False
    n_blocks = 2048 * 128 // 64
    # each block's float32 absmax becomes a uint8; added: a float32 absmax per 256 blocks, a 256-entry
    # float32 code table, and a longer serialised metadata record (< 128 bytes)
    saved = a.weight_bytes - b.weight_bytes
    assert 3 * n_blocks - 4 * (n_blocks // 256) - 4 * 256 - 128 < saved <= 3 * n_blocks, saved
    x = torch.randn(3, 2048, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        torch.testing.assert_close(plain(x), dq(x), rtol=0.05, atol=0.05)


def test_4bit_cpu_path_is_the_portable_dequantize_then_matmul():
    """support_avx512bf16_for_cpu is off: no bfloat16 repacking (which asserts dims % 32 and changes numbers)."""
    import bitsandbytes.functional as F

    model = random_linear(in_features=40, out_features=24)  # not multiples of 32
    quant.quantize(model, "bnb-nf4", device="cpu")
    layer = model[0]
    assert layer.support_avx512bf16_for_cpu is False
    x = torch.randn(5, 40, generator=torch.Generator().manual_seed(2))
    with torch.inference_mode():
        out = model(x)
        again = model(x)
    expected = x @ F.dequantize_4bit(layer.weight.data, layer.weight.quant_state).T
    torch.testing.assert_close(out, expected, rtol=1e-5, atol=1e-5)
    assert torch.equal(out, again)
    assert not getattr(layer.weight.quant_state, "packing_format_for_cpu", False)


def test_int8_drops_only_its_per_matmul_float32_warning(caplog):
    model = random_linear()
    quant.quantize(model, "bnb-int8", device="cpu")
    logger = logging.getLogger("bitsandbytes.autograd._functions")
    with caplog.at_level(logging.WARNING):
        with torch.inference_mode():
            model(torch.randn(2, 256))
        logger.warning("another bitsandbytes warning")
    messages = [r.getMessage() for r in caplog.records]
    assert not any("MatMul8bitLt: inputs will be cast" in m for m in messages), messages
    assert "another bitsandbytes warning" in messages


@requires_tiny
@pytest.mark.parametrize("recipe, max_drop", [("bnb-int8", 0.02), ("bnb-nf4", 0.15), ("bnb-nf4-dq", 0.15),
                                              ("bnb-fp4", 0.75)])
def test_tiny_facts_recall_and_metadata(recipe, max_drop):
    model = tiny_copy()
    names = target_names(model)
    dense = dense_bytes(model)
    result = quant.quantize(model, recipe, tokenizer=tiny().tokenizer, device="cpu")
    assert result.model is model
    assert {type(model.get_submodule(n)).__name__ for n in names} == {"Linear8bitLt" if recipe == "bnb-int8" else "Linear4bit"}
    assert type(model.lm_head) is torch.nn.Linear  # kept in full precision, as transformers does
    assert result.library == "bitsandbytes" and result.library_version == version("bitsandbytes")
    assert result.seconds > 0 and set(result.details) == set(names)
    bits = 8 if recipe == "bnb-int8" else 4
    assert result.bits == bits
    quantized_weights = sum(model.get_submodule(n).in_features * model.get_submodule(n).out_features for n in names)
    low = kept_bytes(tiny().model, names) + quantized_weights * bits // 8
    assert low < result.weight_bytes < dense
    assert result.weight_bytes < low + quantized_weights * (4 / 64 + 0.01) + 512 * len(names)
    summary = result.summary()
    assert summary["library"] == "bitsandbytes" and summary["info"]["quant_type"] == recipe.split("-")[1]
    ref, got = reference_top1(), top1(model)
    assert ref - max_drop <= got <= ref + 0.02, (recipe, ref, got)
