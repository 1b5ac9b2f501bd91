"""Device and dtype choice: ``auto`` means CUDA when present, else CPU.

dtype ``auto`` is float32 on CPU (float16 matmuls are several times slower
there) and bfloat16 on CUDA (float16 where the GPU lacks bfloat16).
"""
from __future__ import annotations

import re

from pytest_qfacts.errors import QFactsUsageError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N"
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


def check_device(text: str, option: str = "--qfacts-device") -> str:
    """Validate the spelling only (no torch import); an error names ``option``."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise QFactsUsageError(f"{option}: '{text}' is not a device; accepted: {DEVICE_CHOICES}")


def check_dtype(text: str, option: str = "--qfacts-dtype") -> str:
    if text in DTYPE_CHOICES:
        return text
    raise QFactsUsageError(f"{option}: '{text}' is not a dtype; accepted: {', '.join(DTYPE_CHOICES)}")


def resolve_device(text: str) -> str:
    import torch

    text = check_device(text)
    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text.startswith("cuda"):
        if not torch.cuda.is_available():
            raise QFactsUsageError(f"--qfacts-device={text}: CUDA is not available on this machine; use cpu or auto")
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise QFactsUsageError(f"--qfacts-device={text}: only {torch.cuda.device_count()} CUDA device(s) visible")
    return text


def resolve_dtype(text: str, device: str):
    import torch

    text = check_dtype(text)
    if text == "auto":
        if device.startswith("cuda"):
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
    return getattr(torch, text)


def plan_placement(devices: list[str], weight_bytes: int | None, free_bytes: dict[int, int],
                   headroom: float = 0.9) -> dict | None:
    """``from_pretrained`` keyword arguments that spread a model over several GPUs, or None.

    Spread (accelerate's ``device_map="auto"``, capped by ``max_memory``) when several CUDA
    devices are listed (``--qfacts-devices`` outside pytest-xdist), or when a single CUDA
    target cannot hold the weights (``weight_bytes > headroom * free``) and more GPUs are
    visible. ``free_bytes``: free memory per visible GPU index. Pure: no torch import.
    """
    cuda = [int(d.split(":")[1]) for d in devices if re.fullmatch(r"cuda:\d+", d)]
    if len(cuda) > 1:
        return {"device_map": "auto", "max_memory": {i: int(free_bytes.get(i, 0) * headroom) for i in cuda}}
    first = cuda[0] if cuda else 0
    if weight_bytes and len(free_bytes) > 1 and weight_bytes > headroom * free_bytes.get(first, 0):
        return {"device_map": "auto", "max_memory": {i: int(f * headroom) for i, f in sorted(free_bytes.items())}}
    return None


def gpu_free_bytes() -> dict[int, int]:
    import torch

    if not torch.cuda.is_available():
        return {}
    return {i: torch.cuda.mem_get_info(i)[0] for i in range(torch.cuda.device_count())}
