"""ckpt: checkpoints whose layers stay packed until the first forward (compressed-tensors pack-quantized W4A16).

transformers loads such a checkpoint with ``weight_packed``/``weight_scale`` per layer and no
``weight``; a hook unpacks every layer at the model's first forward. Checked here:

* ``dense_weight`` of a still-packed layer equals an independent dequantization of the
  tensors in the checkpoint file (int4 values eight per int32 word, stored as ``q + 8``,
  times the scale of their group of 64), and leaves the layer packed; ``dense_shape`` reads
  the layer's size without unpacking it;
* ``ckpt:`` unpacks inside the timed load: the reported seconds include the unpacking;
* a whole plugin run with ``--qfacts-quant=ckpt:DIR`` and the default probes (and with every
  probe) writes the run into the JSON report with its verdict and per-layer CKA.
"""
from __future__ import annotations

import json
import math
import time

import pytest

from compressed_checkpoint import BITS, GROUP, tiny_dir, write_pack_quantized

pytest.importorskip("compressed_tensors",
                    reason='compressed-tensors not installed (pip install "pytest-qfacts[compressed-tensors]")')
torch = pytest.importorskip("torch")

pytestmark = pytest.mark.skipif(not (tiny_dir() / "model.safetensors").is_file(),
                                reason=f"tiny-facts model not built (no model.safetensors in {tiny_dir()})")

WORD_BITS = 32
OFFSET = 1 << (BITS - 1)   # the packed values are q + 8, in 0..15
VERDICT_MODES = {"intact", "signal_degradation", "computation_collapse"}


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    return write_pack_quantized(tmp_path_factory.mktemp("ckpt-w4a16-g64"))


@pytest.fixture(scope="module")
def packed_model(checkpoint):
    """The checkpoint loaded by transformers, never run: every quantized layer still packed."""
    from transformers import AutoModelForCausalLM

    return AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, device_map={"": "cpu"})


def quantized_layers(model) -> dict:
    return {name: m for name, m in model.named_modules() if isinstance(m, torch.nn.Linear) and name != "lm_head"}


def independent_dequantization(packed, scale, in_features: int):
    """``[out, in]`` float weights from a pack-quantized layer's tensors, without compressed-tensors.

    Element ``i`` of a row sits in word ``i // 8`` at bits ``4 * (i % 8)``, as ``q + 8``; ``w = q * scale[g]``
    with ``g = i // 64`` (symmetric: no zero point).
    """
    shifts = torch.arange(0, WORD_BITS, BITS, dtype=torch.int32)                  # 0, 4, ..., 28
    nibbles = (packed.unsqueeze(-1) >> shifts) & ((1 << BITS) - 1)                # [out, words, 8]
    q = nibbles.reshape(packed.shape[0], -1)[:, :in_features].float() - OFFSET
    return q * scale.float().repeat_interleave(GROUP, dim=1)


def test_dense_weight_of_a_packed_layer_is_the_stored_int4_times_its_scale(checkpoint, packed_model):
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from pytest_qfacts.trace.weights import dense_shape, dense_weight

    stored = load_file(str(checkpoint / "model.safetensors"))
    dense_model = AutoModelForCausalLM.from_pretrained(tiny_dir(), dtype=torch.float32)
    reference = {name: tuple(m.weight.shape) for name, m in quantized_layers(dense_model).items()}
    layers = quantized_layers(packed_model)
    assert set(layers) == set(reference) and len(layers) == 14
    for name, layer in layers.items():
        assert getattr(layer, "weight", None) is None and str(layer.quantization_status.value) == "compressed", name
        out_f, in_f = reference[name]
        assert dense_shape(layer) == (out_f, in_f), name
        expected = independent_dequantization(stored[f"{name}.weight_packed"], stored[f"{name}.weight_scale"], in_f)
        dense = dense_weight(layer)
        assert dense.dtype == torch.float32 and dense.shape == (out_f, in_f), name
        assert torch.equal(dense, expected), (name, (dense - expected).abs().max())
        # read, not unpacked: the layer keeps its packed tensors
        assert getattr(layer, "weight", None) is None and hasattr(layer, "weight_packed"), name


def test_the_first_forward_unpacks_to_what_dense_weight_read(checkpoint):
    from transformers import AutoModelForCausalLM

    from pytest_qfacts.trace.weights import dense_weight

    model = AutoModelForCausalLM.from_pretrained(checkpoint, dtype=torch.float32, device_map={"": "cpu"})
    before = {name: dense_weight(m) for name, m in quantized_layers(model).items()}
    with torch.no_grad():
        model(input_ids=torch.tensor([[2, 5, 6]]))
    for name, layer in quantized_layers(model).items():
        assert torch.equal(layer.weight.float(), before[name]), name
        assert torch.equal(dense_weight(layer), before[name]), name


def test_ckpt_unpacks_inside_the_timed_load(checkpoint, monkeypatch):
    from compressed_tensors.compressors import ModelCompressor

    import pytest_qfacts.quant as quant
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    calls = []
    real = ModelCompressor.decompress_model

    def timed(self, model):
        start = time.perf_counter()
        real(self, model)
        calls.append(time.perf_counter() - start)

    monkeypatch.setattr(ModelCompressor, "decompress_model", timed)
    reference = load_model(resolve_model("tiny-facts"), device="cpu", dtype="float32")
    result = quant.quantize(reference.model, f"ckpt:{checkpoint}", tokenizer=reference.tokenizer, device="cpu")
    assert len(calls) == 1                      # unpacked once, during the load
    assert result.seconds >= calls[0] > 0       # and that time is in the reported load time
    layers = quantized_layers(result.model)
    assert all(getattr(m, "weight", None) is not None and not hasattr(m, "weight_packed") for m in layers.values())
    assert (result.library, result.bits, result.group_size) == ("compressed-tensors", BITS, GROUP)


def test_a_checkpoint_that_cannot_unpack_is_one_paragraph(checkpoint, monkeypatch):
    from compressed_tensors.compressors import ModelCompressor

    import pytest_qfacts.quant as quant
    from pytest_qfacts.errors import RecipeError
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    def broken(self, model):
        raise RuntimeError("unsupported packing\nsecond line")

    monkeypatch.setattr(ModelCompressor, "decompress_model", broken)
    reference = load_model(resolve_model("tiny-facts"), device="cpu", dtype="float32")
    with pytest.raises(RecipeError) as err:
        quant.quantize(reference.model, f"ckpt:{checkpoint}", tokenizer=reference.tokenizer, device="cpu")
    assert str(err.value) == (f"recipe 'ckpt:{checkpoint}': the checkpoint loaded, but its first forward on cpu (which "
                              f"unpacks packed layers) failed (RuntimeError: unsupported packing)")


def _small_suite(path, relations: int = 2, facts: int = 3) -> None:
    """The first ``facts`` facts of the first ``relations`` relations of tiny-facts' one-hop suite, gate max_drop 1.0."""
    import yaml

    suite = yaml.safe_load((tiny_dir() / "onehop.qfacts.yaml").read_text(encoding="utf-8"))
    cut = [{**rel, "facts": rel["facts"][:facts]} for rel in suite["relations"][:relations]]
    path.write_text(yaml.safe_dump({"qfacts": 1, "name": "packed", "relations": cut, "gate": {"max_drop": 1.0}}),
                    encoding="utf-8")


@pytest.mark.parametrize("probes", ["default", "all"])
def test_plugin_run_on_a_packed_checkpoint_reports_verdict_and_layer_cka(pytester, checkpoint, tmp_path, monkeypatch,
                                                                        probes):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(tmp_path / "cache"))
    _small_suite(pytester.path / "packed.qfacts.yaml")
    recipe = f"ckpt:{checkpoint}"
    result = pytester.runpytest_subprocess("--qfacts-model=tiny-facts", "--qfacts-device=cpu", f"--qfacts-quant={recipe}",
                                           f"--qfacts-probes={probes}", "--qfacts-report=report.json",
                                           "-p", "no:cacheprovider")
    assert "'NoneType' object has no attribute" not in result.stdout.str()   # a packed layer read as dense
    result.assert_outcomes(passed=2)
    report = json.loads((pytester.path / "report.json").read_text(encoding="utf-8"))
    runs = [run for run in report["runs"] if run["recipe"] == recipe]
    assert len(runs) == 1 and runs[0]["suite"] == "packed"
    run = runs[0]
    assert run["verdict"]["mode"] in VERDICT_MODES
    cka = run["layers"]["cka_last_token"]
    n_layers = json.loads((tiny_dir() / "config.json").read_text())["num_hidden_layers"]
    assert len(cka) == n_layers and all(math.isfinite(v) and 0 <= v <= 1 + 1e-6 for v in cka)
