"""dense_weight: the [out, in] float weight of any library-quantized layer (the neurons probe reads it)."""
import pytest

from library_helpers import random_linear

torch = pytest.importorskip("torch")

import pytest_qfacts.quant as quant  # noqa: E402
from pytest_qfacts.trace.weights import dense_shape, dense_weight  # noqa: E402

RECIPES = {  # recipe -> (module the layer must import, max |w - dense| for the seeded weights, forward atol)
    "rtn-w4g64": ("torch", 0.05, 1e-5),
    "bnb-int8": ("bitsandbytes", 0.01, 0.05),   # LLM.int8() also quantizes the activations
    "bnb-nf4": ("bitsandbytes", 0.1, 1e-4),
    "bnb-fp4-dq": ("bitsandbytes", 0.2, 1e-4),
    "hqq-w4g64": ("hqq", 0.05, 1e-4),
    "torchao-int8wo": ("torchao", 0.01, 1e-4),
    "torchao-int4wo-g64": ("torchao", 0.05, 1e-4),
    "quanto-int8": ("optimum.quanto", 0.01, 1e-4),
    "quanto-int4": ("optimum.quanto", 0.1, 1e-4),
}


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_dense_weight_is_the_weight_the_forward_multiplies(recipe):
    module, max_error, atol = RECIPES[recipe]
    pytest.importorskip(module)
    model = random_linear(256, 64)
    w = model[0].weight.detach().clone()
    quant.quantize(model, recipe, device="cpu")
    x = torch.randn(5, 256, generator=torch.Generator().manual_seed(5))
    with torch.inference_mode():   # as the scorer runs; bitsandbytes int8 moves its scales at the first forward
        out = model(x)
        dense = dense_weight(model[0])
    assert dense.shape == w.shape and dense.dtype == torch.float32
    assert dense_shape(model[0]) == tuple(dense.shape)   # read without dequantizing
    assert 0 < (dense - w).abs().max() <= max_error, recipe   # quantized, and close to the original
    torch.testing.assert_close(out, x @ dense.T, rtol=0.02, atol=atol)


def test_plain_linear_is_its_own_weight():
    layer = random_linear(16, 8)[0]
    assert torch.equal(dense_weight(layer), layer.weight)
    assert dense_shape(layer) == (8, 16)
