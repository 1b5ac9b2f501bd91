"""The library backends on CUDA, with their CUDA kernels (run on a GPU machine: ``python -m pytest -m gpu``).

Skipped, with the reason, where torch sees no CUDA device. tiny-facts is loaded in bfloat16 on the GPU
(the plugin's ``auto`` dtype there), quantized by each recipe and scored on a small suite.
"""
import copy
import functools
import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "quant"))
from library_helpers import TINY_DIR, requires_tiny, small_suite  # noqa: E402

import pytest_qfacts.quant as quant  # noqa: E402

pytestmark = [pytest.mark.gpu, requires_tiny,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")]

RECIPES = {  # recipe -> (module to import, class name of the quantized layers or of their weight, max top-1 drop)
    "bnb-int8": ("bitsandbytes", "Linear8bitLt", 0.02),
    "bnb-nf4": ("bitsandbytes", "Linear4bit", 0.15),
    "bnb-nf4-dq": ("bitsandbytes", "Linear4bit", 0.15),
    "hqq-w4g64": ("hqq", "HQQLinear", 0.15),
    "torchao-int8wo": ("torchao", "Int8Tensor", 0.02),
    "torchao-int4wo-g64": ("torchao", "Int4TilePackedTo4dTensor", 0.15),
    "quanto-int8": ("optimum.quanto", "QLinear", 0.02),
    "quanto-int4": ("optimum.quanto", "QLinear", 0.4),
}


@functools.lru_cache(maxsize=None)
def _reference():
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    return load_model(resolve_model("tiny-facts"), device="cuda", dtype="bfloat16")


def _top1(model) -> float:
    from pytest_qfacts.scoring.scorer import score_items

    return float(score_items(model, _reference().tokenizer, small_suite().items(), batch_size=32).top1.mean())


@pytest.mark.parametrize("recipe", list(RECIPES))
def test_recipe_runs_on_cuda_with_its_kernels(recipe):
    module, kind, max_drop = RECIPES[recipe]
    pytest.importorskip(module)
    reference = _reference()
    model = copy.deepcopy(reference.model)
    result = quant.quantize(model, recipe, tokenizer=reference.tokenizer, device=reference.device)
    layer = model.model.layers[0].mlp.down_proj
    assert kind in (type(layer).__name__, type(getattr(layer, "weight", None)).__name__), type(layer)
    assert all(p.device.type == "cuda" for p in model.parameters())
    assert result.weight_bytes < sum(p.numel() * p.element_size() for p in reference.model.parameters())
    if recipe.startswith("torchao-int4wo"):
        assert result.info["kernel"].startswith("int4-weight-only (tinygemm")
    ref, got = _top1(reference.model), _top1(model)
    assert ref - max_drop <= got <= ref + 0.02, (recipe, ref, got)


def test_bnb_checkpoint_loads_on_cuda(tmp_path):
    pytest.importorskip("bitsandbytes")
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.bfloat16)
    AutoModelForCausalLM.from_pretrained(TINY_DIR, quantization_config=config, dtype=torch.bfloat16,
                                         device_map="cuda").save_pretrained(tmp_path)
    reference = _reference()
    result = quant.quantize(reference.model, f"ckpt:{tmp_path}", tokenizer=reference.tokenizer, device=reference.device)
    assert result.info["method"] == "bitsandbytes" and result.bits == 4
    assert next(result.model.parameters()).device.type == "cuda"
    assert abs(_top1(result.model) - _top1(reference.model)) <= 0.15


def test_plugin_runs_library_recipes_on_cuda(pytester):
    for module in ("bitsandbytes", "torchao"):
        pytest.importorskip(module)
    pytester.makepyfile("""
        def test_pair(qfacts_pair, qfacts_suite):
            result = qfacts_pair.compare(qfacts_suite("tiny-facts-onehop").sample(3))
            assert result.summary.reference_top1 > 0.5
    """)
    result = pytester.runpytest("--qfacts-model=tiny-facts", "--qfacts-device=cuda",
                                "--qfacts-quant=bnb-nf4,torchao-int4wo-g64", "--qfacts-strict")
    result.assert_outcomes(passed=2)
