"""Device and dtype choice: ``auto`` means CUDA when present, else CPU.

dtype ``auto`` is float32 on CPU (float16 matmuls are several times slower
there) and bfloat16 on CUDA (float16 where the GPU lacks bfloat16).
"""
from __future__ import annotations

import re

from pytest_qfacts.errors import QFactsUsageError

DEVICE_CHOICES = "auto, cpu, cuda, cuda:N"
DTYPE_CHOICES = ("auto", "float32", "bfloat16", "float16")


def check_device(text: str) -> str:
    """Validate the spelling only (no torch import)."""
    if text in ("auto", "cpu", "cuda") or re.fullmatch(r"cuda:\d+", text):
        return text
    raise QFactsUsageError(f"--qfacts-device: '{text}' is not a device; accepted: {DEVICE_CHOICES}")


def check_dtype(text: str) -> str:
    if text in DTYPE_CHOICES:
        return text
    raise QFactsUsageError(f"--qfacts-dtype: '{text}' is not a dtype; accepted: {', '.join(DTYPE_CHOICES)}")


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
