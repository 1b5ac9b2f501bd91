"""Helpers of the library-backend tests: the tiny-facts model, a small suite, scoring, byte counts."""
from __future__ import annotations

import copy
import functools
from pathlib import Path

import pytest

import pytest_qfacts

TINY_DIR = Path(pytest_qfacts.__file__).parent / "models" / "tiny_facts"

requires_tiny = pytest.mark.skipif(not (TINY_DIR / "model.safetensors").is_file(),
                                   reason=f"tiny-facts fixture model not built (no model.safetensors in {TINY_DIR})")


@functools.lru_cache(maxsize=None)
def tiny():
    """The tiny-facts reference (a LoadedModel, float32 on CPU), loaded once; copy before quantizing."""
    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model

    return load_model(resolve_model("tiny-facts"), device="cpu", dtype="float32")


def tiny_copy():
    return copy.deepcopy(tiny().model)


@functools.lru_cache(maxsize=None)
def small_suite(per_relation: int = 6):
    """The tiny-facts one-hop suite cut to ``per_relation`` facts per relation (evenly spaced)."""
    from pytest_qfacts.suites import load_suite_file

    return load_suite_file(TINY_DIR / "onehop.qfacts.yaml").sample(per_relation)


def top1(model, suite=None) -> float:
    """Top-1 accuracy of ``model`` (with tiny-facts' tokenizer) on ``suite`` (default: small_suite())."""
    from pytest_qfacts.scoring.scorer import score_items

    suite = suite or small_suite()
    return float(score_items(model, tiny().tokenizer, suite.items(), batch_size=32).top1.mean())


@functools.lru_cache(maxsize=None)
def reference_top1() -> float:
    return top1(tiny().model)


def dense_bytes(model) -> int:
    """numel * element_size of every parameter (tied ones once): the unquantized footprint."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def target_names(model) -> list[str]:
    """The layers the library backends quantize: every nn.Linear except lm_head."""
    import torch

    return [n for n, m in model.named_modules() if isinstance(m, torch.nn.Linear) and not n.endswith("lm_head")]


def kept_bytes(model, quantized: list[str]) -> int:
    """Bytes of every parameter outside the ``quantized`` layers' weights (embeddings, norms, lm_head)."""
    skip = {id(model.get_submodule(n).weight) for n in quantized}
    return sum(p.numel() * p.element_size() for p in model.parameters() if id(p) not in skip)


def random_linear(in_features: int = 256, out_features: int = 64, seed: int = 0, outlier: float = 0.9):
    """A one-layer model (``torch.nn.Sequential``) with seeded Gaussian weights and one outlier."""
    import torch

    gen = torch.Generator().manual_seed(seed)
    layer = torch.nn.Linear(in_features, out_features, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.randn(out_features, in_features, generator=gen) * 0.05)
        layer.weight[3, 5] = outlier
    return torch.nn.Sequential(layer)
