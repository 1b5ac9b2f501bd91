"""GPTQ and AWQ through GPTQModel on CUDA, with GPTQModel's own kernels (``python -m pytest -m gpu``).

Skipped, with the reason, where torch sees no CUDA device or gptqmodel is missing. tiny-facts is loaded in
bfloat16 on the GPU (the plugin's ``auto`` dtype there), quantized, scored, and read back from the cache.
"""
import functools
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "quant"))
from library_helpers import requires_tiny, small_suite  # noqa: E402

pytestmark = [pytest.mark.gpu, pytest.mark.gptq, requires_tiny,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")]


@functools.lru_cache(maxsize=None)
def _reference():
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    return load_model(resolve_model("tiny-facts"), device="cuda", dtype="bfloat16")


def _top1(model) -> float:
    from pytest_qfacts.scoring.scorer import score_items

    return float(score_items(model, _reference().tokenizer, small_suite().items(), batch_size=32).top1.mean())


@pytest.mark.parametrize("recipe", ["gptq-w4g64", "awq-w4g64", "gptq-w8g64"])
def test_recipe_runs_on_cuda_with_gptqmodel_kernels_and_is_cached(recipe, tmp_path):
    pytest.importorskip("gptqmodel")
    from pytest_qfacts.quant.cache import QuantCache, cached_quantize

    reference = _reference()
    cache = QuantCache(tmp_path)
    result = cached_quantize(reference, recipe, cache=cache)
    assert result.info["kernel"] == "gptqmodel CUDA kernels (BACKEND.AUTO)" and result.info["cache"] == "stored"
    layer = result.model.model.layers[0].mlp.down_proj
    assert hasattr(layer, "qweight"), type(layer)   # a GPTQModel quantized layer, not a dense nn.Linear
    assert all(p.device.type == "cuda" for p in result.model.parameters())
    assert result.weight_bytes < sum(p.numel() * p.element_size() for p in reference.model.parameters())
    got = _top1(result.model)
    assert 0.0 < got <= _top1(reference.model) + 0.02
    again = cached_quantize(reference, recipe, cache=cache)
    assert again.info["cache"] == "hit" and _top1(again.model) == got
