"""Loading a model and its tokenizer on a device, in eval mode, ready to score.

GGUF files are dequantized once (about 25 s for SmolLM2-135M) and the result is
cached as safetensors under ``<cache>/gguf/<fingerprint>/``: a model loaded from
GGUF refuses ``save_pretrained``, so it is rebuilt from its config without
``quantization_config`` and handed the state dict. Later loads read the cache.
"""
from __future__ import annotations

import gc
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pytest_qfacts.errors import ModelNotFoundError
from pytest_qfacts.models.device import resolve_device, resolve_dtype
from pytest_qfacts.models.fingerprint import hub_fingerprint, path_fingerprint
from pytest_qfacts.models.registry import ModelSpec


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
    spread it over them with accelerate's ``device_map`` (see ``device.plan_placement``)."""
    started = time.perf_counter()
    device = resolve_device(device if not devices or len(devices) < 2 else devices[0])
    torch_dtype = resolve_dtype(dtype, device)
    placement = None
    if device.startswith("cuda"):
        from pytest_qfacts.models.device import gpu_free_bytes, plan_placement

        placement = plan_placement(devices or [device], _weight_bytes(spec), gpu_free_bytes())
    extra = placement or {}
    if spec.kind == "gguf":
        directory = _converted_gguf(Path(spec.target), cache_dir or default_cache_dir())
        fingerprint = path_fingerprint(spec.target)
        model, tokenizer = _from_dir(directory, torch_dtype, trust_remote_code, **extra)
    elif spec.kind == "dir":
        fingerprint = path_fingerprint(spec.target)
        model, tokenizer = _from_dir(Path(spec.target), torch_dtype, trust_remote_code, **extra)
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


def _from_dir(directory: Path, torch_dtype, trust_remote_code: bool, **placement):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(directory, trust_remote_code=trust_remote_code)
    model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch_dtype, trust_remote_code=trust_remote_code, **placement)
    return model, tokenizer


def _from_hub(spec: ModelSpec, revision: str | None, torch_dtype, trust_remote_code: bool, **placement):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    kwargs = dict(revision=revision, trust_remote_code=trust_remote_code, **placement)
    try:
        tokenizer = AutoTokenizer.from_pretrained(spec.target, local_files_only=True, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(spec.target, local_files_only=True, dtype=torch_dtype, **kwargs)
        return model, tokenizer
    except (OSError, ValueError) as cache_miss:
        offline = os.environ.get("HF_HUB_OFFLINE", "").upper() in ("1", "ON", "YES", "TRUE")  # as huggingface_hub reads it
        reason = cache_miss
    if not offline:
        try:
            tokenizer = AutoTokenizer.from_pretrained(spec.target, **kwargs)
            model = AutoModelForCausalLM.from_pretrained(spec.target, dtype=torch_dtype, **kwargs)
            return model, tokenizer
        except Exception as download_error:  # network, auth, missing repo: all end the same way
            reason = download_error
    rev = f" --revision {revision}" if revision else ""
    raise ModelNotFoundError(
        f"model '{spec.label}' (Hugging Face id {spec.target}, revision {revision or 'main'}) is not in the local "
        f"Hugging Face cache and could not be downloaded ({type(reason).__name__}: {str(reason).splitlines()[0] if str(reason) else ''}).\n"
        f"Fetch it on a machine with hub access:  hf download {spec.target}{rev}\n"
        f"(or point --qfacts-model at a local directory)."
    )


def _converted_gguf(gguf: Path, cache_dir: Path) -> Path:
    """Dequantize a GGUF file once into a safetensors directory; return that directory."""
    from filelock import FileLock

    target = cache_dir / "gguf" / path_fingerprint(gguf)
    if (target / "config.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock"):
        if (target / "config.json").is_file():
            return target
        tmp = Path(tempfile.mkdtemp(prefix=".tmp-", dir=target.parent))
        try:
            _dequantize_gguf(gguf, tmp)
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
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
