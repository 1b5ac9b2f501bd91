"""quant/cache.py: a second identical run quantizes nothing; any change of the key misses; bad entries are rebuilt."""
import dataclasses
import json

import pytest
import torch

from library_helpers import requires_tiny, small_suite, tiny

import pytest_qfacts.quant as quant
from pytest_qfacts.quant.rtn import RTNBackend
from pytest_qfacts.quant import cache as quant_cache
from pytest_qfacts.quant.cache import QuantCache, cache_key, cached_quantize

pytestmark = requires_tiny


class Notes:
    def __init__(self):
        self.lines = []

    def note(self, message):
        self.lines.append(message)


@pytest.fixture
def counted(monkeypatch):
    """Counts RTNBackend.quantize calls (the real quantizer still runs)."""
    calls = []
    original = RTNBackend.quantize

    def quantize(self, model, recipe, **kw):
        calls.append(recipe.text)
        return original(self, model, recipe, **kw)

    monkeypatch.setattr(RTNBackend, "quantize", quantize)
    return calls


def _run(cache, recipe="rtn-w4g64", reference=None, notes=None, **kw):
    return cached_quantize(reference or tiny(), recipe, cache=cache, progress=notes, **kw)


def _weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def test_a_second_identical_run_quantizes_nothing_and_gives_the_same_model(tmp_path, counted):
    cache, notes = QuantCache(tmp_path / "quantized"), Notes()
    first = _run(cache, notes=notes)
    assert counted == ["rtn-w4g64"] and first.info["cache"] == "stored"
    entry = tmp_path / "quantized" / quant_cache.key_digest(cache_key(tiny(), "rtn-w4g64", RTNBackend()))
    assert first.info["cache_path"] == str(entry) and sorted(p.name for p in entry.iterdir()) == ["entry.json",
                                                                                                   "tensors.safetensors"]
    second = _run(cache, notes=notes)
    assert counted == ["rtn-w4g64"]  # not called again
    assert second.info["cache"] == "hit" and second.info["cache_path"] == str(entry)
    assert any("loaded from the quantized-model cache" in line and "(no quantization)" in line for line in notes.lines)
    a, b = first.model.state_dict(), second.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert second.model is not tiny().model and second.model is not first.model
    assert torch.equal(tiny().model.model.layers[0].mlp.up_proj.weight,
                       tiny().model.get_parameter("model.layers.0.mlp.up_proj.weight"))
    # the metadata survive the round trip (seconds = the original quantization's)
    assert {k: v for k, v in second.summary().items() if k != "info"} == \
           {k: v for k, v in first.summary().items() if k != "info"}
    assert second.details == {k: 4 for k in first.details}
    # only the changed tensors are stored: the quantized layers' weights
    from safetensors import safe_open

    with safe_open(str(entry / "tensors.safetensors"), "pt") as f:
        assert sorted(f.keys()) == sorted(f"{name}.weight" for name in first.details)


def test_the_reference_is_not_modified_by_a_hit_or_a_miss(tmp_path):
    before = _weights(tiny().model)
    cache = QuantCache(tmp_path)
    _run(cache)
    _run(cache)
    after = tiny().model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.parametrize("change", ["recipe", "fingerprint", "revision", "dtype", "torch", "transformers", "library"])
def test_any_change_of_the_key_misses(tmp_path, counted, monkeypatch, change):
    from pytest_qfacts.models.fingerprint import hub_fingerprint

    cache = QuantCache(tmp_path)
    hub = dataclasses.replace(tiny(), fingerprint=hub_fingerprint("org/model", "v1", None))
    _run(cache, reference=hub)
    _run(cache, reference=hub)
    assert len(counted) == 1
    recipe, reference = "rtn-w4g64", hub
    if change == "recipe":
        recipe = "rtn-w4g64-sym"
    elif change == "fingerprint":
        reference = dataclasses.replace(hub, fingerprint="0123456789abcdef")
    elif change == "revision":
        reference = dataclasses.replace(hub, fingerprint=hub_fingerprint("org/model", "v2", None))
    elif change == "dtype":
        reference = dataclasses.replace(hub, dtype="bfloat16")
    else:
        name = {"torch": "torch", "transformers": "transformers", "library": "pytest-qfacts"}[change]
        real = quant_cache.library_version
        monkeypatch.setattr(quant_cache, "library_version", lambda d: "99.0" if d == name else real(d))
    result = _run(cache, recipe=recipe, reference=reference)
    assert len(counted) == 2 and result.info["cache"] == "stored"
    assert len([p for p in tmp_path.iterdir() if p.is_dir()]) == 2  # the old entry is left alone, never read


def test_the_key_names_everything_that_changes_the_numbers(monkeypatch):
    from pytest_qfacts.quant.gptq import GPTQBackend

    monkeypatch.setattr(quant_cache, "library_version", lambda d: f"v-{d}")
    key = cache_key(tiny(), "gptq-w4g64", GPTQBackend(), "calib123")
    assert key == {"format": 1, "model": tiny().fingerprint, "dtype": "float32", "device": "cpu",
                   "recipe": "gptq-w4g64", "calibration": "calib123",
                   "versions": {"torch": "v-torch", "transformers": "v-transformers",
                                "pytest-qfacts": "v-pytest-qfacts", "gptqmodel": "v-gptqmodel"}}
    assert cache_key(tiny(), "rtn-w4g64", RTNBackend(), "calib123")["calibration"] is None  # rtn reads no text


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete", "entry-json", "foreign-key", "empty-folder"])
def test_a_damaged_entry_is_ignored_and_rebuilt(tmp_path, counted, damage):
    cache, notes = QuantCache(tmp_path), Notes()
    good = _run(cache).model.state_dict()
    entry = next(p for p in tmp_path.iterdir() if p.is_dir())
    tensors, meta = entry / "tensors.safetensors", entry / "entry.json"
    if damage == "truncate":
        tensors.write_bytes(tensors.read_bytes()[: tensors.stat().st_size // 2])
    elif damage == "flip":
        data = bytearray(tensors.read_bytes())
        data[-10] ^= 0xFF
        tensors.write_bytes(bytes(data))
    elif damage == "delete":
        tensors.unlink()
    elif damage == "entry-json":
        meta.write_text("{not json", encoding="utf-8")
    elif damage == "foreign-key":
        record = json.loads(meta.read_text(encoding="utf-8"))
        record["key"]["recipe"] = "rtn-w2g64"
        meta.write_text(json.dumps(record), encoding="utf-8")
    else:
        for p in entry.iterdir():
            p.unlink()
    rebuilt = _run(cache, notes=notes)
    assert counted == ["rtn-w4g64", "rtn-w4g64"] and rebuilt.info["cache"] == "stored"
    assert any("ignoring the unusable cache entry" in line and "quantizing again" in line for line in notes.lines)
    assert all(torch.equal(good[k], v) for k, v in rebuilt.model.state_dict().items())
    third = _run(cache)  # and the rebuilt entry is good again
    assert third.info["cache"] == "hit" and len(counted) == 2


def test_no_cache_writes_nothing(tmp_path, counted):
    result = cached_quantize(tiny(), "rtn-w4g64", cache=None)
    result = cached_quantize(tiny(), "rtn-w4g64", cache=None)
    assert counted == ["rtn-w4g64", "rtn-w4g64"] and result.info["cache"] == "off"


class _Uncacheable(RTNBackend):
    name = "uncached"
    cacheable = False

    def parse(self, text):
        return quant.Recipe(text="uncached", backend="uncached", bits=4, group_size=64, options={"sym": False}) \
            if text.strip() == "uncached" else None


class _Restructuring(RTNBackend):
    """Replaces every Linear by a module of its own (as bitsandbytes/HQQ do): the default save cannot store it."""
    name = "restructure"

    def parse(self, text):
        return quant.Recipe(text="restructure", backend="restructure", bits=4, group_size=64, options={"sym": False}) \
            if text.strip() == "restructure" else None

    def quantize(self, model, recipe, **kw):
        result = super().quantize(model, recipe, **kw)
        model.model.layers[0].mlp.up_proj = torch.nn.Identity()
        return result


@pytest.mark.parametrize("backend, expected", [(_Uncacheable(), "off"), (_Restructuring(), "not stored")])
def test_backends_that_cannot_be_cached_are_not(tmp_path, monkeypatch, backend, expected):
    monkeypatch.setattr(quant, "BACKENDS", [backend, *quant.BACKENDS])
    cache, notes = QuantCache(tmp_path), Notes()
    for _ in range(2):
        result = _run(cache, recipe=backend.name, notes=notes)
        assert result.info["cache"] == expected
    assert not any(p.is_dir() for p in tmp_path.iterdir()) if tmp_path.exists() else True
    if expected == "not stored":
        assert any("is not cached (backend 'restructure' cannot save it)" in line for line in notes.lines)


def test_changed_tensors_round_trip_with_tied_weights(tmp_path):
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=40, hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=2, tie_word_embeddings=True)
    reference = LlamaForCausalLM(config).eval()
    model = LlamaForCausalLM(config).eval()
    model.load_state_dict(reference.state_dict())
    with torch.no_grad():
        model.model.embed_tokens.weight.mul_(0.5)      # tied to lm_head: stored once
        model.model.layers[0].mlp.down_proj.weight.add_(1.0)
    assert quant_cache.save_changed_tensors(model, reference, tmp_path)
    restored = quant_cache.load_changed_tensors(reference, tmp_path)
    assert restored.lm_head.weight is restored.model.embed_tokens.weight
    for k, v in model.state_dict().items():
        assert torch.equal(restored.state_dict()[k], v), k
    x = torch.tensor([[1, 2, 3]])
    assert torch.equal(restored(x).logits, model(x).logits)


def test_a_session_reads_the_cache_on_its_second_run(tmp_path, counted):
    """The plugin's path: QFactsSession.quantized() goes through the cache under --qfacts-cache-dir."""
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    scores = []
    for _ in range(2):
        session = QFactsSession(Settings(model="tiny-facts", device="cpu", cache_dir=str(tmp_path), quiet=True, probes=()))
        try:
            comparison = session.compare(small_suite(), "rtn-w3g64")
            scores.append(comparison.quantized.gold_rank.tolist())
            cache_state = comparison.quant_info["info"]["cache"]
        finally:
            session.close()
    assert counted == ["rtn-w3g64"] and cache_state == "hit" and scores[0] == scores[1]
    assert (tmp_path / "quantized").is_dir()


@pytest.mark.gptq
def test_gptq_is_cached_and_a_new_calibration_misses(tmp_path, monkeypatch):
    pytest.importorskip("gptqmodel")
    from pytest_qfacts.quant.calibration import Calibration
    from pytest_qfacts.quant.gptq import GPTQBackend

    calls = []
    original = GPTQBackend.quantize
    monkeypatch.setattr(GPTQBackend, "quantize", lambda self, *a, **k: calls.append(1) or original(self, *a, **k))
    cache = QuantCache(tmp_path)
    small = Calibration(samples=4, length=64)
    first = _run(cache, "gptq-w4g64", calibration=small)
    second = _run(cache, "gptq-w4g64", calibration=Calibration(samples=4, length=64))
    assert len(calls) == 1 and second.info["cache"] == "hit"
    assert second.info["calibration"] == first.info["calibration"]
    a, b = first.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    third = _run(cache, "gptq-w4g64", calibration=Calibration(samples=3, length=64))
    assert len(calls) == 2 and third.info["cache"] == "stored"
