"""Loading a model and its tokenizer on a device, in eval mode, ready to score.

GGUF files are dequantized once (about 25 s for SmolLM2-135M) and the result is
cached as safetensors under ``<cache>/gguf/<fingerprint>/``: a model loaded from
GGUF refuses ``save_pretrained``, so it is rebuilt from its config without
``quantization_config`` and handed the state dict. Later loads read the cache.

A model that cannot be loaded raises one paragraph, never transformers' traceback: a
corrupt file, a folder without weights or a broken config.json is a ``ModelLoadError``
(``load_errors``), a hub id that is neither cached nor downloadable a ``ModelNotFoundError``
(without network access, after one connection attempt: ``hub.hub_unreachable``). The
failure is remembered for the process: a later request of the same model (same weights,
revision, dtype, device) raises the same error at once.
"""
from __future__ import annotations

import gc
import os
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_qfacts.errors import ModelNotFoundError, QFactsUsageError, describe_exception
from pytest_qfacts.models.device import resolve_device, resolve_dtype
from pytest_qfacts.models.fingerprint import hub_fingerprint, path_fingerprint
from pytest_qfacts.models.hub import hub_offline, hub_unreachable
from pytest_qfacts.models.load_errors import check_local_model, translated
from pytest_qfacts.models.registry import ModelSpec

#: The ``QFactsUsageError`` of every failed ``load_model`` call in this process, by what was asked
#: (``_request_key``): a model that could not be loaded is not tried again in the run; every later
#: request raises the same error at once (an unreachable hub id would otherwise cost ~50 s each).
_FAILED_LOADS: dict[tuple, QFactsUsageError] = {}


# The first import of transformers' model modules imports hqq when it is installed; hqq's import calls
# torch.compile, which imports torch.utils.mkldnn, whose ``@torch.jit.script_method`` decorators each warn
# "DeprecationWarning: `torch.jit.script_method` is deprecated" (14 of them under torch 2.13), shown in the
# warnings summary of every user's test run although nothing of theirs or ours uses torch.jit.
TORCH_JIT_DEPRECATION = r"`torch\.jit\.\w+` is deprecated"


@contextmanager
def _torch_jit_deprecations_silenced():
    """Ignore only torch's ``torch.jit.*`` DeprecationWarnings, only inside the block."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=TORCH_JIT_DEPRECATION, category=DeprecationWarning)
        yield


@dataclass
class LoadedModel:
    """A model ready to score. ``fingerprint`` changes whenever the weights do."""

    model: Any
    tokenizer: Any
    spec: ModelSpec
    device: str
    dtype: str
    fingerprint: str
    seconds: float = 0.0
    info: dict = field(default_factory=dict)

    def release(self) -> None:
        """Drop the weights and give memory back (CUDA cache included)."""
        self.model = None
        gc.collect()
        try:
            import torch

            if torch.cuda.is_available():
                torch.cuda.empty_cache()
        except ImportError:  # pragma: no cover
            pass


def default_cache_dir() -> Path:
    env = os.environ.get("QFACTS_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("pytest-qfacts"))


def load_model(spec: ModelSpec, *, device: str = "auto", dtype: str = "auto", revision: str | None = None,
               trust_remote_code: bool = False, cache_dir: Path | None = None, devices: list[str] | None = None) -> LoadedModel:
    """Load ``spec`` on ``device``; with several CUDA ``devices`` (or weights larger than one GPU),
    spread it over them with accelerate's ``device_map`` (see ``device.plan_placement``).

    A model that cannot be loaded raises a one-paragraph ``QFactsUsageError`` (``ModelNotFoundError``,
    ``ModelLoadError``: see ``load_errors``), and the same error again, at once, for every later
    request of the same model in this process (``forget_load_failures`` clears that memory)."""
    key = _request_key(spec, device, dtype, revision, trust_remote_code, devices)
    failed = _FAILED_LOADS.get(key)
    if failed is not None:
        raise failed.with_traceback(None)
    try:
        return _load_model(spec, device=device, dtype=dtype, revision=revision, trust_remote_code=trust_remote_code,
                           cache_dir=cache_dir, devices=devices)
    except QFactsUsageError as err:
        _FAILED_LOADS[key] = err
        raise


def forget_load_failures() -> None:
    """Forget the failed loads (a new run in the same process: pytester's in-process runs)."""
    _FAILED_LOADS.clear()


def _request_key(spec: ModelSpec, device: str, dtype: str, revision: str | None, trust_remote_code: bool,
                 devices: list[str] | None) -> tuple:
    """What decides a load's outcome: the weights asked for, how, and whether the hub may be asked."""
    return (spec.kind, spec.target, revision, dtype, device, tuple(devices or ()), trust_remote_code, hub_offline())


def _load_model(spec: ModelSpec, *, device: str, dtype: str, revision: str | None, trust_remote_code: bool,
                cache_dir: Path | None, devices: list[str] | None) -> LoadedModel:
    started = time.perf_counter()
    check_local_model(spec)
    device = resolve_device(device if not devices or len(devices) < 2 else devices[0])
    torch_dtype = resolve_dtype(dtype, device)
    placement = None
    if device.startswith("cuda"):
        from pytest_qfacts.models.device import gpu_free_bytes, plan_placement

        placement = plan_placement(devices or [device], _weight_bytes(spec), gpu_free_bytes())
    extra = placement or {}
    with _torch_jit_deprecations_silenced():  # transformers' first model import triggers them
        if spec.kind == "gguf":
            with translated(spec, f"transformers could not dequantize the GGUF file {spec.target}",
                            "the file may be cut off, or hold an architecture or quantization type that transformers "
                            "does not read"):
                directory = _converted_gguf(Path(spec.target), cache_dir or default_cache_dir())
            fingerprint = path_fingerprint(spec.target)
            model, tokenizer = _from_dir(spec, directory, torch_dtype, trust_remote_code, **extra)
        elif spec.kind == "dir":
            fingerprint = path_fingerprint(spec.target)
            model, tokenizer = _from_dir(spec, Path(spec.target), torch_dtype, trust_remote_code, **extra)
        else:
            model, tokenizer = _from_hub(spec, revision, torch_dtype, trust_remote_code, **extra)
            fingerprint = hub_fingerprint(spec.target, revision, getattr(model.config, "_commit_hash", None))
    if placement is None:
        model.to(device)
    model.eval()
    model.requires_grad_(False)
    _prepare_tokenizer(tokenizer)
    dtype_name = str(torch_dtype).replace("torch.", "")
    return LoadedModel(model, tokenizer, spec, device, dtype_name, fingerprint, time.perf_counter() - started)


def _prepare_tokenizer(tokenizer) -> None:
    """Left padding (so every prompt ends at the last position) and a pad token."""
    tokenizer.padding_side = "left"
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token or tokenizer.unk_token


def _weight_bytes(spec: ModelSpec) -> int | None:
    """Bytes of the weight files on disk (local models only; None for the hub)."""
    if spec.kind == "hub":
        return None
    path = Path(spec.target)
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.suffix in (".safetensors", ".bin", ".gguf")]
    return sum(p.stat().st_size for p in files)


def _from_dir(spec: ModelSpec, directory: Path, torch_dtype, trust_remote_code: bool, **placement):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    with translated(spec, f"transformers could not load a tokenizer from {directory}",
                    "a model folder needs its tokenizer files (tokenizer.json, or tokenizer_config.json with the "
                    "vocabulary files it names)"):
        tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    with translated(spec, f"transformers could not load the model in {directory}"):
        model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch_dtype, trust_remote_code=trust_remote_code,
                                                     **placement)
    return model, tokenizer


def _from_hub(spec: ModelSpec, revision: str | None, torch_dtype, trust_remote_code: bool, **placement):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code, **placement)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.target, local_files_only=True, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(spec.target, local_files_only=True, dtype=torch_dtype, **kwargs)
        return model, tokenizer
    except (OSError, ValueError) as cache_miss:
        reason = describe_exception(cache_miss)
    unreachable = None if hub_offline() else hub_unreachable()  # seconds of retries saved when there is no network
    if unreachable:
        reason = f"ConnectionError: {unreachable}"
    elif not hub_offline():
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.target, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(spec.target, dtype=torch_dtype, **kwargs)
            return model, tokenizer
        except Exception as download_error:  # network, auth, missing repo: all end the same way
            reason = describe_exception(download_error)
    rev = f" --revision {revision}" if revision else ""
    raise ModelNotFoundError(
        f"model '{spec.label}' (Hugging Face id {spec.target}, revision {revision or 'main'}) is not in the local "
        f"Hugging Face cache and could not be downloaded ({reason}).\n"
        f"Fetch it on a machine with hub access:  hf download {spec.target}{rev}\n"
        f"(or point --qfacts-model at a local directory)."
    )


def _converted_gguf(gguf: Path, cache_dir: Path) -> Path:
    """Dequantize a GGUF file once into a safetensors directory; return that directory.

    Written atomically under a named lock (``pytest_qfacts.atomic``): staged in ``<cache>/gguf/.qfacts-tmp/``,
    where what a killed conversion left is swept by the next one."""
    from pytest_qfacts.atomic import atomic_write_dir, named_lock

    target = cache_dir / "gguf" / path_fingerprint(gguf)
    if (target / "config.json").is_file():
        return target
    with named_lock(target.parent, target.name):
        if not (target / "config.json").is_file():
            atomic_write_dir(target, lambda tmp: _dequantize_gguf(gguf, tmp))
    return target


def _dequantize_gguf(gguf: Path, out: Path) -> None:
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf as _gguf  # noqa: F401
    except ImportError as err:
        raise ModelNotFoundError(f"loading {gguf.name} needs the gguf package: pip install gguf accelerate") from err
    tokenizer = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    config = AutoConfig.from_pretrained(gguf.parent, gguf_file=gguf.name)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    rebuilt = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    rebuilt.load_state_dict(loaded.state_dict())
    rebuilt.save_pretrained(out, safe_serialization=True)
    tokenizer.save_pretrained(out)
