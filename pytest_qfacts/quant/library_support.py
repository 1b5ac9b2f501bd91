"""What the library backends share: importing their library, its version, the layers they quantize.

* ``import_library(backend, module)`` imports a quantization library; a failure
  (not installed, or installed but unable to load against this torch) becomes
  ``BackendUnavailable`` naming the backend, the library, why, and the install
  command, which the plugin turns into a skip (an error under ``--qfacts-strict``).
* ``target_linears(model, recipe, group_size)``: the ``nn.Linear`` layers a
  backend quantizes, every one except ``lm_head`` (as transformers' own
  quantizers do), checked with the built-in RTN planner: a group size must divide
  every selected layer's in_features, and the error lists the sizes that would.
* ``drop_log_records(logger, *prefixes)``: a filter that drops the records of one
  library logger whose message starts with one of the prefixes, and nothing else.
"""
from __future__ import annotations

import importlib
import logging
import math

from pytest_qfacts.errors import RecipeError, describe_exception
from pytest_qfacts.quant.base import BackendUnavailable


def library_version(distribution: str) -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def import_library(backend, module: str):
    """Import ``module`` for ``backend``; any failure raises ``BackendUnavailable`` saying why."""
    try:
        return importlib.import_module(module)
    except Exception as err:  # ImportError, or a library that fails to load against this torch
        raise BackendUnavailable(
            f"backend '{backend.name}' cannot import {module} ({describe_exception(err)}); "
            f"install with: {backend.install_hint}") from err


def target_linears(model, recipe: str, group_size: int | None = None, choices=None) -> list[str]:
    """Names of the ``nn.Linear`` layers to quantize: all but ``lm_head``; checks ``group_size`` divides them.

    ``choices``: the group sizes the backend accepts (a callable ``size -> bool``); the error then
    lists those among the sizes that would fit every layer, instead of every divisor.
    """
    from pytest_qfacts.quant.rtn import plan_rtn

    names = list(plan_rtn(model, 8, 1, recipe=recipe))  # the same selection as RTN: every nn.Linear but lm_head
    if not group_size:
        return names
    sizes = {n: model.get_submodule(n).in_features for n in names}
    bad = next((n for n in names if sizes[n] % group_size), None)
    if bad is None:
        return names
    g = 0
    for size in sizes.values():
        g = math.gcd(g, size)
    fitting = [d for d in range(1, g + 1) if g % d == 0 and (choices is None or choices(d))]
    raise RecipeError(
        f"recipe '{recipe}': module '{bad}' has in_features={sizes[bad]}, which group size {group_size} does not "
        f"divide (the group size must divide the in_features of every quantized layer); accepted group sizes "
        f"that divide all {len(names)} quantized layers: {', '.join(map(str, fitting)) or 'none'}")


def set_module(model, name: str, new) -> None:
    """Replace the submodule called ``name`` (dotted) by ``new``."""
    parent_name, _, child = name.rpartition(".")
    parent = model.get_submodule(parent_name) if parent_name else model
    setattr(parent, child, new)


def model_dtype(model):
    """The floating dtype of the model's first floating parameter (float32 if none)."""
    import torch

    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


def compute_dtype(model, device: str):
    """The model's dtype, except float16 on CPU, which is several times slower: float32 there."""
    import torch

    dtype = model_dtype(model)
    if str(device).startswith("cpu") and dtype == torch.float16:
        return torch.float32
    return dtype


class _DropPrefixes(logging.Filter):
    def __init__(self, prefixes: tuple[str, ...]):
        super().__init__()
        self.prefixes = prefixes

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = str(record.msg)
        except Exception:  # pragma: no cover - a broken record is not ours to judge
            return True
        return not message.startswith(self.prefixes)


def drop_log_records(logger_name: str, *prefixes: str) -> None:
    """Drop the records of ``logger_name`` whose (unformatted) message starts with a prefix; idempotent."""
    logger = logging.getLogger(logger_name)
    for f in logger.filters:
        if isinstance(f, _DropPrefixes) and f.prefixes == prefixes:
            return
    logger.addFilter(_DropPrefixes(prefixes))
