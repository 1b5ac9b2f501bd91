"""GPTQ through GPTQModel (gptq-w{2,3,4,8}g{N}) on tiny-facts: quantize, score, metadata, JSON report, kernel check.

The tests that quantize are marked ``gptq`` (GPTQModel on CPU takes seconds per recipe); .ci/run runs them.
"""
import json

import pytest

from library_helpers import requires_tiny, small_suite, target_names, tiny

import pytest_qfacts.quant as quant
from pytest_qfacts.errors import RecipeError

import torch  # noqa: E402


# -- the recipe grammar (no library needed) ------------------------------------------------
@pytest.mark.parametrize("text, bits, group", [("gptq-w4g128", 4, 128), (" GPTQ-W8G64 ", 8, 64), ("gptq-w2g16", 2, 16),
                                               ("gptq-w3g1024", 3, 1024)])
def test_recipes_parse_to_their_canonical_spelling(text, bits, group):
    recipe = quant.parse_recipe(text)
    assert (recipe.text, recipe.backend, recipe.bits, recipe.group_size) == (f"gptq-w{bits}g{group}", "gptq", bits, group)
    assert quant.backend_for(recipe).needs_calibration


@pytest.mark.parametrize("text, message", [
    ("gptq-w5g64", "bits must be one of 2, 3, 4, 8, got 5"),
    ("gptq-w4g96", "group size must be one of 16, 32, 64, 128, 256, 512, 1024 (GPTQModel's kernels), got 96"),
    ("gptq-w4", "malformed gptq recipe 'gptq-w4'; accepted: gptq-w{2,3,4,8}g{N}"),
    ("gptq-w4g64-sym", "malformed gptq recipe"),
])
def test_malformed_recipes_say_what_is_accepted(text, message):
    with pytest.raises(RecipeError) as err:
        quant.parse_recipe(text)
    assert message in str(err.value)


# -- quantizing tiny-facts -------------------------------------------------------------------
def _gptqmodel():
    return pytest.importorskip("gptqmodel", reason='gptqmodel not installed: pip install -c .ci/constraints.txt '
                                                   '"pytest-qfacts[gptq]"')


def quantizing_marks(test):
    return pytest.mark.gptq(requires_tiny(test))


def _session(cache_dir, **settings):
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    return QFactsSession(Settings(model="tiny-facts", device="cpu", dtype="float32", cache_dir=str(cache_dir),
                                  quiet=True, **settings))


@pytest.fixture(scope="module")
def gptq_run(tmp_path_factory):
    """tiny-facts quantized with gptq-w4g64 (default calibration) and compared on a small suite, via the session."""
    _gptqmodel()
    session = _session(tmp_path_factory.mktemp("gptq-cache"))
    comparison = session.compare(small_suite(), "gptq-w4g64")
    loaded, result = session.quantized("gptq-w4g64")
    yield session, comparison, loaded, result
    session.close()


@quantizing_marks
def test_quantizes_scores_and_reports_its_metadata(gptq_run):
    from importlib.metadata import version

    from pytest_qfacts.report.json_report import build_report

    session, comparison, loaded, result = gptq_run
    assert (result.library, result.library_version) == ("gptqmodel", version("gptqmodel"))
    assert (result.bits, result.group_size) == (4, 64) and result.seconds > 0
    assert sorted(result.details) == sorted(target_names(tiny().model)) and set(result.details.values()) == {4}
    info = result.info
    assert info["method"] == "gptq" and info["sym"] is True and info["desc_act"] is False
    assert info["quant_dtype"] == "float32" and info["kernel"] == "weights dequantized by gptqmodel into nn.Linear"
    assert info["calibration"]["source"] == "built-in calibration.txt"
    # tiny-facts has a context of 128 tokens: the 16 windows are capped at it
    assert (info["calibration"]["samples"], info["calibration"]["length"]) == (16, 128)
    assert info["cache"] == "stored"
    # the quantized model is scored like any other
    n = len(small_suite().items())
    assert comparison.summary.n == n and 0.0 < comparison.summary.quantized_top1 <= 1.0
    assert comparison.summary.reference_top1 > 0.9
    report = json.loads(json.dumps(build_report(session.runs, session.gates)))
    (run,) = [r for r in report["runs"] if r["recipe"] == "gptq-w4g64"]
    assert run["quant"]["library"] == "gptqmodel" and run["quant"]["bits"] == 4 and run["quant"]["group_size"] == 64
    assert run["quant"]["weight_bytes"] == result.weight_bytes and run["quant"]["info"]["method"] == "gptq"
    assert len(run["facts"]) == n


@quantizing_marks
def test_weight_bytes_are_the_checkpoint_as_gptqmodel_stores_it(gptq_run):
    """Packed int32 qweight (b bits each) and qzeros, fp16 scales, int32 g_idx per layer; the rest float32."""
    _, _, _, result = gptq_run
    model, bits, g = tiny().model, 4, 64
    expected = 0
    for name in target_names(model):
        out_f, in_f = model.get_submodule(name).weight.shape
        groups = in_f // g
        expected += in_f * out_f * bits // 8 + groups * out_f * bits // 8 + groups * out_f * 2 + in_f * 4
    quantized = {id(model.get_submodule(n).weight) for n in target_names(model)}
    expected += sum(p.numel() * 4 for p in model.parameters() if id(p) not in quantized)
    assert result.weight_bytes == expected


@quantizing_marks
def test_weights_lie_on_a_4_bit_grid_per_group(gptq_run):
    _, _, loaded, _ = gptq_run
    reference = tiny().model
    for name in target_names(reference):
        w = loaded.model.get_submodule(name).weight.detach()
        assert type(loaded.model.get_submodule(name)) is torch.nn.Linear and w.dtype == torch.float32
        assert not torch.equal(w, reference.get_submodule(name).weight)
        groups = w.reshape(w.shape[0], -1, 64)
        distinct = max(len(torch.unique(groups[r, k])) for r in range(0, w.shape[0], 7) for k in range(groups.shape[1]))
        assert 2 < distinct <= 16, (name, distinct)
    # the unquantized tensors are the reference's, exactly
    for name in ("model.embed_tokens.weight", "lm_head.weight", "model.norm.weight", "model.layers.1.input_layernorm.weight"):
        assert torch.equal(loaded.model.get_parameter(name), reference.get_parameter(name)), name


@quantizing_marks
def test_the_scored_model_computes_what_gptqmodels_own_kernel_computes(gptq_run):
    """Independent check of the CPU loading path: GPTQModel's TorchLinear forward on the stored checkpoint."""
    _, _, loaded, result = gptq_run
    kernel = _gptqmodel_kernel_model(result.info["cache_path"], torch.float16, _gptqmodel().BACKEND.TORCH)
    ours, theirs = _last_logits(loaded.model), _last_logits(kernel)
    assert (ours - theirs).abs().max() <= 1e-3 * ours.abs().max()
    assert torch.equal(ours.argmax(-1), theirs.argmax(-1))


@quantizing_marks
def test_gptq_keeps_more_facts_than_round_to_nearest_at_3_bits(tmp_path):
    """With in-domain calibration text (two-hop prompts and answers that hold none of the one-hop facts
    scored), GPTQ's error compensation keeps more one-hop facts than plain RTN at the same bits and grid."""
    from pytest_qfacts.quant.calibration import leaked_facts
    from pytest_qfacts.suites import load_suite

    _gptqmodel()
    calibration = tmp_path / "twohop.jsonl"
    lines = [f"{it.prompt} {it.object} ." for it in load_suite("tiny-facts-twohop").items()[::3]]
    lines = [line for line in lines if not leaked_facts(line, small_suite().items())]
    assert len(lines) > 300
    calibration.write_text("".join(json.dumps({"text": line}) + "\n" for line in lines), encoding="utf-8")
    session = _session(tmp_path / "cache", calibration=str(calibration), calibration_samples=16, no_cache=True)
    try:
        gptq = session.compare(small_suite(), "gptq-w3g64").summary
        rtn = session.compare(small_suite(), "rtn-w3g64-sym").summary
    finally:
        session.close()
    assert gptq.quantized_top1 > rtn.quantized_top1 + 0.05, (gptq.quantized_top1, rtn.quantized_top1)


# -- helpers ----------------------------------------------------------------------------------
def _gptqmodel_kernel_model(folder, dtype, backend):
    q = _gptqmodel().GPTQModel.load(str(folder), device="cpu", dtype=dtype, backend=backend)
    model = q.model
    for module in model.modules():
        if "dequantize_weight" in vars(module):  # skip GPTQModel's torch.compile wrapper (one call, no compiler)
            del module.dequantize_weight
    return model.float().eval()


def _last_logits(model):
    ref = tiny()
    prompts = [it.prompt for it in small_suite().items()[:48]]
    ref.tokenizer.padding_side = "left"
    batch = ref.tokenizer(prompts, return_tensors="pt", padding=True)
    with torch.inference_mode():
        return model(**batch).logits[:, -1].float()
