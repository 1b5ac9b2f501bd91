"""The errors of loading a model: cheap checks before transformers runs, one paragraph after it failed.

transformers answers a corrupt file or an incomplete folder with a traceback of about a
thousand lines. Here every such failure becomes one ``ModelLoadError`` that names the model
(its alias or what the user typed), the file, what is wrong, and what would be accepted.

``check_local_model(spec)`` reads at most the first bytes of a GGUF file, a folder's listing
and its ``config.json`` (no torch):

* a ``.gguf`` file must start with the magic bytes ``GGUF``;
* a folder's ``config.json`` must be a JSON object;
* a folder must hold weights under a name ``from_pretrained`` reads (``WEIGHT_FILES``), or be
  a PEFT adapter folder (``adapter_config.json``).

``translated(spec, doing)``: a context manager that turns any other exception raised inside it
(transformers, safetensors, gguf) into a ``ModelLoadError`` quoting its type and first line.
Errors that are already one paragraph (``QFactsUsageError``) and running out of memory (which
another release may cure) pass through unchanged.
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from pytest_qfacts.errors import ModelLoadError, QFactsUsageError, describe_exception

GGUF_MAGIC = b"GGUF"
#: The weight files AutoModelForCausalLM.from_pretrained reads from a folder (one file or a sharded index).
WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                "pytorch_model.bin.index.json")
ADAPTER_CONFIG = "adapter_config.json"
MAX_LISTED_FILES = 8  # a folder listing inside a message stops after this many names
ACCEPTED = ("accepted: a .gguf file (llama.cpp's format), a Hugging Face model folder as save_pretrained writes it "
            "(config.json, weights and tokenizer files), or a Hugging Face id")


def model_load_error(spec, problem: str) -> ModelLoadError:
    """``model 'LABEL': PROBLEM; accepted: ...``."""
    return ModelLoadError(f"model '{spec.label}': {problem}; {ACCEPTED}")


def check_local_model(spec) -> None:
    """Raise ``ModelLoadError`` when the GGUF file or model folder of ``spec`` cannot be a model (see above)."""
    if spec.kind == "gguf":
        _check_gguf(spec, Path(spec.target))
    elif spec.kind == "dir":
        _check_folder(spec, Path(spec.target))


def _check_gguf(spec, path: Path) -> None:
    with open(path, "rb") as f:
        head = f.read(len(GGUF_MAGIC))
    if head != GGUF_MAGIC:
        found = "it is empty" if not head else f"it starts with {head!r}"
        raise model_load_error(spec, f"{path} is not a GGUF file: {found}, where a GGUF file starts with "
                                     f"{GGUF_MAGIC!r} (a corrupt or cut-off download, or another format named .gguf)")


def _check_folder(spec, folder: Path) -> None:
    config = folder / "config.json"
    try:
        parsed = json.loads(config.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise model_load_error(spec, f"{config} is not valid JSON (line {err.lineno}, column {err.colno}: "
                                     f"{err.msg})") from None
    except (OSError, UnicodeDecodeError) as err:
        raise model_load_error(spec, f"cannot read {config} ({describe_exception(err)})") from None
    if not isinstance(parsed, dict):
        raise model_load_error(spec, f"{config} holds a JSON {type(parsed).__name__}, where a model's "
                                     f"configuration (a JSON object) is expected")
    names = sorted(p.name for p in folder.iterdir())
    if not any(name in names for name in (*WEIGHT_FILES, ADAPTER_CONFIG)):
        listing = ", ".join(names[:MAX_LISTED_FILES])
        if len(names) > MAX_LISTED_FILES:
            listing += f" and {len(names) - MAX_LISTED_FILES} more"
        raise model_load_error(spec, f"the folder {folder} has a config.json but no weights: none of "
                                     f"{', '.join(WEIGHT_FILES)} is there (it holds {listing})")


def _out_of_memory(err: BaseException) -> bool:
    if isinstance(err, MemoryError):
        return True
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency
        return False
    return isinstance(err, torch.cuda.OutOfMemoryError)  # torch.OutOfMemoryError in torch >= 2.5


@contextmanager
def translated(spec, doing: str, hint: str = ""):
    """Re-raise an exception from inside as ``model 'LABEL': DOING (Type: first line)[; HINT]; accepted: ...``."""
    try:
        yield
    except QFactsUsageError:
        raise
    except Exception as err:
        if _out_of_memory(err):
            raise
        raise model_load_error(spec, f"{doing} ({describe_exception(err)})" + (f"; {hint}" if hint else "")) from None
