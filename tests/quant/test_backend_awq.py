"""AWQ through GPTQModel (awq-w4g{N}) on tiny-facts: quantize, score, metadata, JSON report, kernel check.

The tests that quantize are marked ``gptq`` (GPTQModel on CPU takes seconds per recipe); .ci/run runs them.
"""
import json

import pytest
import torch

from library_helpers import requires_tiny, small_suite, target_names, tiny

import pytest_qfacts.quant as quant
from pytest_qfacts.errors import RecipeError


# -- the recipe grammar (no library needed) ------------------------------------------------
@pytest.mark.parametrize("text, group", [("awq-w4g128", 128), (" AWQ-W4G64", 64), ("awq-w4g16", 16)])
def test_recipes_parse_to_their_canonical_spelling(text, group):
    recipe = quant.parse_recipe(text)
    assert (recipe.text, recipe.backend, recipe.bits, recipe.group_size) == (f"awq-w4g{group}", "awq", 4, group)
    backend = quant.backend_for(recipe)
    assert backend.needs_calibration and backend.library == "gptqmodel"


@pytest.mark.parametrize("text, message", [
    ("awq-w8g64", "AWQ quantizes to 4 bits only, got 8"),
    ("awq-w4g256", "group size must be one of 16, 32, 64, 128, got 256"),
    ("awq-4bit", "malformed awq recipe 'awq-4bit'; accepted: awq-w4g{N}  (N in 16, 32, 64, 128)"),
])
def test_malformed_recipes_say_what_is_accepted(text, message):
    with pytest.raises(RecipeError) as err:
        quant.parse_recipe(text)
    assert message in str(err.value)


def test_the_readme_says_why_awq_goes_through_gptqmodel():
    from pathlib import Path

    readme = (Path(__file__).parents[2] / "README.md").read_text(encoding="utf-8")
    assert "AutoAWQ" in readme and "deprecated" in readme and "GPTQModel" in readme


def test_a_group_size_that_does_not_divide_is_refused_before_any_work():
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    model = LlamaForCausalLM(LlamaConfig(vocab_size=32, hidden_size=96, intermediate_size=192, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=2, max_position_embeddings=32))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(RecipeError) as err:
        quant.backend_for("awq-w4g64").quantize(model, quant.parse_recipe("awq-w4g64"), tokenizer=None)
    assert "has in_features=96, which group size 64 does not divide" in str(err.value)
    assert all(torch.equal(v, before[k]) for k, v in model.state_dict().items())


# -- quantizing tiny-facts -------------------------------------------------------------------
def _gptqmodel():
    return pytest.importorskip("gptqmodel", reason='gptqmodel not installed: pip install -c .ci/constraints.txt '
                                                   '"pytest-qfacts[awq]"')


def quantizing_marks(test):
    return pytest.mark.gptq(requires_tiny(test))


@pytest.fixture(scope="module")
def awq_run(tmp_path_factory):
    """tiny-facts quantized with awq-w4g64 (default calibration) and compared on a small suite, via the session."""
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    _gptqmodel()
    session = QFactsSession(Settings(model="tiny-facts", device="cpu", dtype="float32", quiet=True,
                                     cache_dir=str(tmp_path_factory.mktemp("awq-cache"))))
    comparison = session.compare(small_suite(), "awq-w4g64")
    loaded, result = session.quantized("awq-w4g64")
    yield session, comparison, loaded, result
    session.close()


@quantizing_marks
def test_quantizes_scores_and_reports_its_metadata(awq_run):
    from importlib.metadata import version

    from pytest_qfacts.report.json_report import build_report

    session, comparison, loaded, result = awq_run
    assert (result.library, result.library_version) == ("gptqmodel", version("gptqmodel"))
    assert (result.bits, result.group_size) == (4, 64) and result.seconds > 0
    assert sorted(result.details) == sorted(target_names(tiny().model))
    info = result.info
    assert info["method"] == "awq" and info["sym"] is False  # zero points, as AutoAWQ
    assert info["quant_dtype"] == "bfloat16"  # GPTQModel's AWQ layer takes 16-bit dtypes only
    assert info["calibration"]["samples"] == 16 and info["cache"] == "stored"
    assert loaded.model.dtype == torch.float32  # scored in the reference's dtype
    n = len(small_suite().items())
    assert comparison.summary.n == n and comparison.summary.reference_top1 > 0.9
    report = json.loads(json.dumps(build_report(session.runs, session.gates)))
    (run,) = [r for r in report["runs"] if r["recipe"] == "awq-w4g64"]
    assert run["quant"]["library"] == "gptqmodel" and run["quant"]["info"]["method"] == "awq"
    assert run["quant"]["weight_bytes"] == result.weight_bytes and len(run["facts"]) == n


@quantizing_marks
def test_weight_bytes_are_the_checkpoint_as_gptqmodel_stores_it(awq_run):
    """GEMM format: int32 qweight and qzeros (4 bits each), bfloat16 scales, no g_idx; the rest bfloat16."""
    _, _, _, result = awq_run
    model, g = tiny().model, 64
    expected = 0
    for name in target_names(model):
        out_f, in_f = model.get_submodule(name).weight.shape
        expected += in_f * out_f // 2 + (in_f // g) * out_f // 2 + (in_f // g) * out_f * 2
    quantized = {id(model.get_submodule(n).weight) for n in target_names(model)}
    expected += sum(p.numel() * 2 for p in model.parameters() if id(p) not in quantized)
    assert result.weight_bytes == expected


@quantizing_marks
def test_weights_lie_on_a_4_bit_grid_and_awq_rescaled_the_norms(awq_run):
    _, _, loaded, _ = awq_run
    reference = tiny().model
    for name in target_names(reference):
        w = loaded.model.get_submodule(name).weight.detach()
        groups = w.reshape(w.shape[0], -1, 64)
        distinct = max(len(torch.unique(groups[r, k])) for r in range(0, w.shape[0], 7) for k in range(groups.shape[1]))
        assert 2 < distinct <= 16, (name, distinct)
    # AWQ folds 1/s into the norm before q/k/v and gate/up: those differ from the reference
    norm = "model.layers.0.input_layernorm.weight"
    assert not torch.equal(loaded.model.get_parameter(norm), reference.get_parameter(norm))


@quantizing_marks
def test_the_scored_model_computes_what_gptqmodels_own_kernel_computes(awq_run):
    """Independent check of the CPU loading path: GPTQModel's AwqTorchLinear (float16 compute) on the checkpoint."""
    _, _, loaded, result = awq_run
    gq = _gptqmodel()
    q = gq.GPTQModel.load(result.info["cache_path"], device="cpu", dtype=torch.bfloat16, backend=gq.BACKEND.AWQ_TORCH)
    kernel = q.model.float().eval()
    prompts = [it.prompt for it in small_suite().items()[:48]]
    tok = tiny().tokenizer
    tok.padding_side = "left"
    batch = tok(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        ours, theirs = loaded.model(**batch).logits[:, -1], kernel(**batch).logits[:, -1].float()
    assert (ours - theirs).abs().max() <= 0.01 * ours.abs().max()   # float16 matmuls in the kernel
    assert (ours.argmax(-1) == theirs.argmax(-1)).float().mean() >= 0.95
