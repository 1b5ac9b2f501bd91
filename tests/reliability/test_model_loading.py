"""Models that cannot be loaded: one paragraph instead of transformers' ~1,000-line traceback, remembered for the run.

Each bad input goes through the public path (``resolve_model`` then ``load_model``) and the
whole message is asserted: what was given, what is wrong with it, what would be accepted.
Where the message quotes a library's own exception, that quote (``(Type: first line)``) is
matched loosely and everything around it exactly. A failed load is remembered: the same
request raises the same error again without reading the disk or asking the hub.
"""
from __future__ import annotations

import random
import re
import shutil
import socket
import time

import pytest

from pytest_qfacts.errors import ModelLoadError, ModelNotFoundError
from pytest_qfacts.models.loading import forget_load_failures, load_model
from pytest_qfacts.models.registry import resolve_model, tiny_facts_dir

ACCEPTED = ("accepted: a .gguf file (llama.cpp's format), a Hugging Face model folder as save_pretrained writes it "
            "(config.json, weights and tokenizer files), or a Hugging Face id")
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")
LIBRARY_QUOTE = r"\(\w+: [^\n]+\)"  # "(Type: first line)" of a library's exception
HUB_ID = "qfacts-test/no-such-model"
#: A missing hub model must fail in far less than huggingface_hub's ~50 s of retries without network.
FAST_FAILURE_S = 15.0

requires_tiny = pytest.mark.skipif(not (tiny_facts_dir() / "model.safetensors").is_file(),
                                   reason=f"tiny-facts model not built (no model.safetensors in {tiny_facts_dir()})")


@pytest.fixture(autouse=True)
def _fresh_memory():
    forget_load_failures()
    yield
    forget_load_failures()


def _load(name: str, tmp_path, dtype: str = "float32"):
    return load_model(resolve_model(name), device="cpu", dtype=dtype, cache_dir=tmp_path / "cache")


def _error(name: str, tmp_path, kind=ModelLoadError) -> str:
    with pytest.raises(kind) as err:
        _load(name, tmp_path)
    assert type(err.value) is kind
    return str(err.value)


def _folder(tmp_path, *files: str):
    """A folder holding the named files of tiny-facts."""
    folder = (tmp_path / "model").resolve()
    folder.mkdir()
    for name in files:
        shutil.copy(tiny_facts_dir() / name, folder / name)
    return folder


# -- GGUF files ----------------------------------------------------------------------
NOT_GGUF = ("model '{path}': {path} is not a GGUF file: {found}, where a GGUF file starts with b'GGUF' "
            "(a corrupt or cut-off download, or another format named .gguf); " + ACCEPTED)
RANDOM_BYTES = random.Random(0).randbytes(4096)


@pytest.mark.parametrize("data, found", [
    (RANDOM_BYTES, f"it starts with {RANDOM_BYTES[:4]!r}"),
    (b"PK\x03\x04" + bytes(60), "it starts with b'PK\\x03\\x04'"),   # a zip file renamed
    (b"", "it is empty"),
], ids=["random-bytes", "zip", "empty"])
def test_not_a_gguf_file(tmp_path, data, found):
    path = (tmp_path / "model.gguf").resolve()
    path.write_bytes(data)
    assert _error(str(path), tmp_path) == NOT_GGUF.format(path=path, found=found)


def test_cut_off_gguf(tmp_path):
    pytest.importorskip("gguf", reason="reading GGUF files needs the gguf package")
    path = (tmp_path / "cut.gguf").resolve()
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little"))   # magic and version, then nothing
    message = _error(str(path), tmp_path)
    assert re.fullmatch(re.escape(f"model '{path}': transformers could not dequantize the GGUF file {path} ")
                        + LIBRARY_QUOTE + re.escape("; the file may be cut off, or hold an architecture or quantization "
                                                    f"type that transformers does not read; {ACCEPTED}"), message), message


# -- model folders -------------------------------------------------------------------
NO_WEIGHTS = ("the folder {folder} has a config.json but no weights: none of model.safetensors, "
              "model.safetensors.index.json, pytorch_model.bin, pytorch_model.bin.index.json is there (it holds {held})")
FOLDERS = {  # case: (tiny-facts files copied, config.json text written or None, the problem the message names)
    "config-only": (("config.json",), None, NO_WEIGHTS.replace("{held}", "config.json")),
    "config-and-tokenizer": (("config.json", *TOKENIZER_FILES), None, NO_WEIGHTS.replace(
        "{held}", "config.json, special_tokens_map.json, tokenizer.json, tokenizer_config.json")),
    "broken-config": (("model.safetensors", *TOKENIZER_FILES), '{"model_type": "llama",\n',
                      "{config} is not valid JSON (line 2, column 1: Expecting property name enclosed in double quotes)"),
    "config-not-an-object": (("model.safetensors", *TOKENIZER_FILES), "[1, 2]",
                             "{config} holds a JSON list, where a model's configuration (a JSON object) is expected"),
}


@requires_tiny
@pytest.mark.parametrize("case", list(FOLDERS))
def test_folder_that_cannot_be_a_model(tmp_path, case):
    files, config_text, problem = FOLDERS[case]
    folder = _folder(tmp_path, *files)
    if config_text is not None:
        (folder / "config.json").write_text(config_text, encoding="utf-8")
    problem = problem.format(folder=folder, config=folder / "config.json")
    assert _error(str(folder), tmp_path) == f"model '{folder}': {problem}; {ACCEPTED}"


@requires_tiny
def test_folder_without_a_tokenizer(tmp_path):
    folder = _folder(tmp_path, "config.json", "model.safetensors")
    message = _error(str(folder), tmp_path)
    assert re.fullmatch(re.escape(f"model '{folder}': transformers could not load a tokenizer from {folder} ")
                        + LIBRARY_QUOTE + re.escape("; a model folder needs its tokenizer files (tokenizer.json, or "
                                                    f"tokenizer_config.json with the vocabulary files it names); {ACCEPTED}"),
                        message), message


@requires_tiny
def test_corrupt_weights_file(tmp_path):
    folder = _folder(tmp_path, "config.json", *TOKENIZER_FILES)
    (folder / "model.safetensors").write_bytes(random.Random(1).randbytes(1000))
    message = _error(str(folder), tmp_path)
    assert re.fullmatch(re.escape(f"model '{folder}': transformers could not load the model in {folder} ")
                        + LIBRARY_QUOTE + re.escape(f"; {ACCEPTED}"), message), message


# -- hub ids -------------------------------------------------------------------------
def _count_hub_traffic(monkeypatch) -> dict:
    """Count transformers' from_pretrained calls: from the local cache only, or allowed to download (with retries).

    No network: every socket connection fails at once, as on a machine without network access."""
    import transformers

    counts = {"cache": 0, "download": 0}

    def no_network(address, *args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    for cls in (transformers.AutoTokenizer, transformers.AutoModelForCausalLM):
        real = cls.from_pretrained.__func__

        def counted(klass, *args, _real=real, **kwargs):
            counts["cache" if kwargs.get("local_files_only") else "download"] += 1
            return _real(klass, *args, **kwargs)

        monkeypatch.setattr(cls, "from_pretrained", classmethod(counted))
    return counts


def _hub_message(reason: str) -> str:
    return (f"model '{HUB_ID}' (Hugging Face id {HUB_ID}, revision main) is not in the local Hugging Face cache and "
            f"could not be downloaded ({reason}).\nFetch it on a machine with hub access:  hf download {HUB_ID}\n"
            f"(or point --qfacts-model at a local directory).")


def test_unknown_hub_id_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    counts = _count_hub_traffic(monkeypatch)
    message = _error(HUB_ID, tmp_path, ModelNotFoundError)
    assert re.fullmatch(re.escape(_hub_message("@")).replace("@", r"\w+: [^\n]+"), message), message
    assert counts == {"cache": 1, "download": 0}


def test_unknown_hub_id_without_network_fails_at_once_and_once(tmp_path, monkeypatch):
    from huggingface_hub import constants

    from pytest_qfacts.models.hub import PROXY_VARIABLES

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setattr(constants, "ENDPOINT", "https://huggingface.co")
    counts = _count_hub_traffic(monkeypatch)
    expected = _hub_message("ConnectionError: cannot connect to huggingface.co:443 ([Errno 101] Network is unreachable)")
    started = time.perf_counter()
    assert _error(HUB_ID, tmp_path, ModelNotFoundError) == expected
    assert time.perf_counter() - started < FAST_FAILURE_S
    assert counts == {"cache": 1, "download": 0}   # the cache, then one connection attempt: no download, no retries
    # the next item of the run: the same error, without asking the hub or the cache again
    started = time.perf_counter()
    assert _error(HUB_ID, tmp_path, ModelNotFoundError) == expected
    assert time.perf_counter() - started < 1.0
    assert counts == {"cache": 1, "download": 0}   # neither the cache nor the hub asked again


# -- a failure is remembered for the run ---------------------------------------------------
@requires_tiny
def test_a_failed_load_is_remembered_until_forgotten(tmp_path, monkeypatch):
    import transformers

    folder = _folder(tmp_path, "model.safetensors", *TOKENIZER_FILES)
    (folder / "config.json").write_text("{", encoding="utf-8")
    first = _error(str(folder), tmp_path)
    assert first.startswith(f"model '{folder}': {folder / 'config.json'} is not valid JSON (line 1, column 2: ")
    shutil.copy(tiny_facts_dir() / "config.json", folder / "config.json")   # repaired, but this run already gave up
    calls = []
    real = transformers.AutoTokenizer.from_pretrained.__func__
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained",
                        classmethod(lambda cls, *a, **k: calls.append(a) or real(cls, *a, **k)))
    assert _error(str(folder), tmp_path) == first
    assert calls == []                                                     # nothing read: the error came from memory
    assert _load(str(folder), tmp_path, dtype="bfloat16").dtype == "bfloat16"   # another request is tried afresh
    forget_load_failures()
    assert _load(str(folder), tmp_path).dtype == "float32"


# -- through the plugin: each item gets the paragraph, nobody gets a traceback -----------------
SUITE = ("{qfacts: 1, name: two, relations: [{name: capital, templates: ['The capital of {subject} is'], "
         "facts: [{subject: France, object: Paris}]}, {name: language, templates: ['The language of {subject} is'], "
         "facts: [{subject: France, object: French}]}]}")


def _run_plugin(pytester, model: str):
    pytester.makefile(".qfacts.yaml", two=SUITE)
    started = time.perf_counter()
    result = pytester.runpytest_subprocess(f"--qfacts-model={model}", "--qfacts-device=cpu", "--qfacts-quant=rtn-w8g64",
                                           "-p", "no:cacheprovider")
    return result, time.perf_counter() - started


def test_plugin_items_fail_with_the_paragraph_for_a_corrupt_gguf(pytester, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(tmp_path / "cache"))
    path = pytester.path / "model.gguf"
    path.write_bytes(b"PK\x03\x04" + bytes(60))
    result, _ = _run_plugin(pytester, str(path))
    result.assert_outcomes(failed=2)
    line = NOT_GGUF.format(path=path, found="it starts with b'PK\\x03\\x04'")
    assert result.stdout.str().count(line) >= 2
    assert "Traceback" not in result.stdout.str() and "site-packages/transformers" not in result.stdout.str()


def test_plugin_items_fail_fast_for_an_unreachable_hub(pytester, tmp_path, monkeypatch):
    from pytest_qfacts.models.hub import PROXY_VARIABLES

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")   # the discard port: nothing listens, refused at once
    monkeypatch.setenv("QFACTS_CACHE_DIR", str(tmp_path / "cache"))
    result, seconds = _run_plugin(pytester, HUB_ID)
    result.assert_outcomes(failed=2)
    text = result.stdout.str()
    assert text.count(f"model '{HUB_ID}' (Hugging Face id {HUB_ID}, revision main) is not in the local Hugging Face "
                      f"cache and could not be downloaded (ConnectionError: cannot connect to 127.0.0.1:9 (") >= 2
    assert "Retrying in" not in text and "Traceback" not in text
    assert seconds < 2 * FAST_FAILURE_S   # the process start included; ~100 s with the retries
