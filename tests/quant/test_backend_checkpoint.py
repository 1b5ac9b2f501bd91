"""ckpt:PATH_OR_HF_ID: pre-quantized checkpoints (bitsandbytes, compressed-tensors, GPTQ, dense), built here
from tiny-facts and loaded back; unsupported methods, missing libraries and foreign vocabularies are refused."""
import json
import shutil

import pytest

from compressed_checkpoint import copy_tokenizer, write_pack_quantized
from library_helpers import TINY_DIR, requires_tiny, tiny, tiny_copy

import pytest_qfacts.quant as quant
from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant import BackendUnavailable

pytestmark = requires_tiny

def _logits(model, text="The capital of"):
    import torch

    ids = tiny().tokenizer(text, return_tensors="pt").input_ids
    with torch.inference_mode():
        return model(ids).logits[0, -1].float()


def _snapshot(model) -> dict:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _assert_unchanged(model, before: dict) -> None:
    """The reference keeps every tensor, bit for bit: ckpt: only reads it."""
    import torch

    after = model.state_dict()
    assert after.keys() == before.keys()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def _load(recipe):
    return quant.quantize(tiny().model, recipe, tokenizer=tiny().tokenizer, device="cpu")


def _config_dir(tmp_path, **changes):
    """A checkpoint directory whose config.json is tiny-facts' with ``changes`` (no weights needed to be refused)."""
    config = json.loads((TINY_DIR / "config.json").read_text())
    config.update(changes)
    (tmp_path / "config.json").write_text(json.dumps(config))
    return tmp_path


@pytest.fixture(scope="module")
def bnb_nf4_checkpoint(tmp_path_factory):
    """tiny-facts quantized to NF4 by transformers' own bitsandbytes integration and saved with save_pretrained."""
    pytest.importorskip("bitsandbytes")
    pytest.importorskip("accelerate")
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    out = tmp_path_factory.mktemp("ckpt-bnb-nf4")
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(TINY_DIR, quantization_config=config, dtype=torch.float32,
                                                 device_map="cpu")
    model.save_pretrained(out)
    copy_tokenizer(out)
    return out


def test_bnb_checkpoint_loads_and_equals_the_bnb_backend(bnb_nf4_checkpoint):
    import torch

    before = _snapshot(tiny().model)
    result = _load(f"ckpt:{bnb_nf4_checkpoint}")
    model = result.model
    assert model is not tiny().model
    assert type(model.model.layers[0].mlp.down_proj).__name__ == "Linear4bit"
    assert all(m.support_avx512bf16_for_cpu is False for m in model.modules() if hasattr(m, "support_avx512bf16_for_cpu"))
    assert (result.library, result.bits, result.group_size) == ("bitsandbytes", 4, 64)
    assert result.info == {"checkpoint": str(bnb_nf4_checkpoint), "method": "bitsandbytes"}
    assert result.seconds > 0
    # the same quantization as the bnb-nf4 recipe, through transformers instead of our layer swap
    ours = quant.quantize(tiny_copy(), "bnb-nf4", device="cpu")
    # the same tensors; only bitsandbytes' serialised metadata record may differ by a few bytes per layer
    assert abs(result.weight_bytes - ours.weight_bytes) <= 32 * len(ours.details)
    torch.testing.assert_close(_logits(model), _logits(ours.model), rtol=1e-5, atol=1e-5)
    _assert_unchanged(tiny().model, before)


def test_session_hands_the_reference_itself_not_a_copy(bnb_nf4_checkpoint, monkeypatch):
    import copy

    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True, no_cache=True))
    try:
        reference = session.reference().model
        real = copy.deepcopy

        def guarded(obj, *args, **kwargs):
            if obj is reference:
                raise AssertionError("ckpt: must not copy the reference")
            return real(obj, *args, **kwargs)

        monkeypatch.setattr(copy, "deepcopy", guarded)
        loaded, result = session.quantized(f"ckpt:{bnb_nf4_checkpoint}")
        assert loaded.model is not session.reference().model and result.info["method"] == "bitsandbytes"
    finally:
        session.close()


def test_compressed_tensors_checkpoint_is_symmetric_int4_like_rtn_sym(tmp_path):
    """A pack-quantized W4A16 checkpoint (symmetric, groups of 64) written with compressed-tensors' own API."""
    pytest.importorskip("compressed_tensors")
    import torch

    write_pack_quantized(tmp_path)
    result = _load(f"ckpt:{tmp_path}")
    assert (result.library, result.bits, result.group_size) == ("compressed-tensors", 4, 64)
    assert result.info["method"] == "compressed-tensors" and result.info["format"] == "pack-quantized"
    n = sum(m.weight.numel() for name, m in tiny().model.named_modules()
            if isinstance(m, torch.nn.Linear) and name != "lm_head")
    assert result.weight_bytes < sum(p.numel() * p.element_size() for p in tiny().model.parameters()) - n * 3
    rtn = quant.quantize(tiny_copy(), "rtn-w4g64-sym", device="cpu").model   # the same grid, built independently
    torch.testing.assert_close(_logits(result.model), _logits(rtn), rtol=1e-4, atol=1e-4)


def test_dense_checkpoint_without_quantization_config(tmp_path):
    import torch

    rtn = quant.quantize(tiny_copy(), "rtn-w4g64", device="cpu").model   # fake-quantized, saved as plain weights
    rtn.save_pretrained(tmp_path)
    result = _load(f"ckpt:{tmp_path}")
    assert (result.library, result.bits, result.group_size, result.info["method"]) == ("transformers", None, None, "none")
    torch.testing.assert_close(_logits(result.model), _logits(rtn), rtol=0, atol=1e-6)


@pytest.mark.parametrize("method", ["eetq", "fp8", "hqq"])
def test_unsupported_method_is_named(tmp_path, method):
    _config_dir(tmp_path, quantization_config={"quant_method": method})
    with pytest.raises(RecipeError) as err:
        _load(f"ckpt:{tmp_path}")
    msg = str(err.value)
    assert f"quantized with method '{method}'" in msg and str(tmp_path / "config.json") in msg
    assert "supported: gptq, awq, bitsandbytes, compressed-tensors" in msg


@pytest.mark.parametrize("method, missing, extra", [("gptq", "optimum", "gptq"), ("awq", "gptqmodel", "awq"),
                                                    ("bitsandbytes", "bitsandbytes", "bnb"),
                                                    ("compressed-tensors", "compressed_tensors", "compressed-tensors")])
def test_missing_library_is_backend_unavailable(tmp_path, monkeypatch, method, missing, extra):
    import pytest_qfacts.quant.checkpoint as checkpoint

    real = checkpoint._importable
    monkeypatch.setattr(checkpoint, "_importable", lambda name: name != missing and real(name))
    _config_dir(tmp_path, quantization_config={"quant_method": method, "bits": 4})
    with pytest.raises(BackendUnavailable) as err:
        _load(f"ckpt:{tmp_path}")
    msg = str(err.value)
    assert f"quantized with '{method}'" in msg and missing in msg and f'pip install "pytest-qfacts[{extra}]"' in msg


def test_foreign_vocabulary_is_refused(tmp_path):
    _config_dir(tmp_path, vocab_size=2048)
    with pytest.raises(RecipeError, match="vocab_size is 2048 .* reference model's is 1024"):
        _load(f"ckpt:{tmp_path}")


def test_foreign_tokenizer_is_refused(tmp_path):
    from transformers import AutoTokenizer

    _config_dir(tmp_path)
    tokenizer = AutoTokenizer.from_pretrained(TINY_DIR)
    tokenizer.add_tokens(["zzqqxx"])
    tokenizer.save_pretrained(tmp_path)
    with pytest.raises(RecipeError, match="different vocabulary from the reference"):
        _load(f"ckpt:{tmp_path}")


def test_missing_directory_and_config(tmp_path):
    with pytest.raises(RecipeError, match="no checkpoint directory at"):
        _load(f"ckpt:{tmp_path / 'nowhere'}")
    with pytest.raises(RecipeError, match="has no config.json"):
        _load(f"ckpt:{tmp_path}")


def test_hub_id_not_in_the_cache_says_how_to_fetch_it(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(RecipeError, match="hf download qfacts-test/no-such-model"):
        _load("ckpt:qfacts-test/no-such-model")


def test_gptq_checkpoint_is_read_as_the_gptq_recipe_reads_its_own(tmp_path):
    """A GPTQModel checkpoint (written by the gptq-w4g64 recipe) read back by ckpt: gives the recipe's model."""
    for module in ("gptqmodel", "optimum"):
        pytest.importorskip(module, reason=f'{module} not installed (pip install "pytest-qfacts[gptq]")')
    import torch

    before = _snapshot(tiny().model)
    made = quant.quantize(tiny_copy(), "gptq-w4g64", tokenizer=tiny().tokenizer, device="cpu",
                          calibration=None)
    workdir = __import__("pathlib").Path(getattr(made.files, "name", made.files))
    folders = [p.parent for p in workdir.rglob("quantize_config.json")]
    assert len(folders) == 1, f"no single GPTQModel checkpoint under {workdir}"
    shutil.copytree(folders[0], tmp_path / "gptq")
    result = _load(f"ckpt:{tmp_path / 'gptq'}")
    assert (result.library, result.bits, result.group_size, result.info["method"]) == ("gptqmodel", 4, 64, "gptq")
    assert result.weight_bytes == made.weight_bytes
    torch.testing.assert_close(_logits(result.model), _logits(made.model), rtol=0, atol=1e-6)
    _assert_unchanged(tiny().model, before)
