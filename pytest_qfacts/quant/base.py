"""The interface every quantization backend implements.

One file per backend (``rtn.py``, later ``bnb.py``, ``gptq.py`` ...) defines a
``QuantBackend`` subclass; ``pytest_qfacts.quant`` keeps the list of instances.

A backend

* ``parse(text)``: returns a ``Recipe`` when the text is one of its recipes,
  ``None`` when it is not (another backend's, or unknown), and raises
  ``RecipeError`` when the text is clearly its own (its prefix) but malformed;
* ``available()``: says whether its library is installed, without importing it
  (``importlib.util.find_spec``), and how to install it;
* ``quantize(model, recipe, ...)``: quantizes and returns a ``QuantResult``.

Nothing here imports torch: the plugin must load without it.
"""
from __future__ import annotations

import importlib.util
import math
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from pytest_qfacts.errors import RecipeError


class BackendUnavailable(RecipeError):
    """A recipe whose library is not installed (or cannot run here).

    The plugin turns it into a skip that carries the message (which names the
    library and the install command); ``--qfacts-strict`` makes it an error.
    """


@dataclass(frozen=True)
class Recipe:
    """A parsed recipe string such as ``rtn-w4g64-sym``.

    ``text`` is the canonical spelling (the backend may normalise case);
    ``options`` holds backend-specific flags (``{"sym": True}``) and is read-only.
    """

    text: str
    backend: str
    bits: int | None = None
    group_size: int | None = None
    options: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "options", MappingProxyType(dict(self.options)))

    def __hash__(self) -> int:
        return hash((self.text, self.backend, self.bits, self.group_size,
                     tuple(sorted((k, repr(v)) for k, v in self.options.items()))))

    def __str__(self) -> str:
        return self.text


@dataclass
class QuantResult:
    """What a backend hands back after quantizing.

    ``weight_bytes``: bytes the weights take (rtn: as they would be packed, see
    ``packed_weight_bytes``; library backends: as the library stores them, see
    ``quant.footprint.stored_bytes``).
    ``details``: backend-specific facts; for rtn ``{module_name: bits}``.
    ``info``: small JSON-ready facts worth reporting (quant type, compute dtype,
    checkpoint method ...); ``summary()`` includes it under ``"info"`` when not empty.
    """

    model: Any
    recipe: Recipe
    library: str
    library_version: str
    bits: int | None
    group_size: int | None
    seconds: float
    weight_bytes: int
    details: dict = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    files: Any = None  # what the library wrote while quantizing (a folder or TemporaryDirectory), for ``save``

    def summary(self) -> dict:
        """JSON-ready description without the model."""
        out: dict[str, Any] = {
            "recipe": self.recipe.text, "backend": self.recipe.backend,
            "library": self.library, "library_version": self.library_version,
            "bits": self.bits, "group_size": self.group_size,
            "seconds": self.seconds, "weight_bytes": self.weight_bytes,
        }
        if self.info:
            out["info"] = dict(self.info)
        return out


class QuantBackend(ABC):
    """Base class of a backend. Subclasses set the class attributes below.

    ``requires`` lists the import names ``available()`` checks with
    ``importlib.util.find_spec`` (override ``available`` for finer checks, e.g. CUDA).
    ``examples`` are valid recipe strings, used in help and "did you mean" hints.
    ``cacheable``: False when the quantized model cannot be written to the on-disk
    cache and read back (quanto models cannot be saved through transformers).
    ``uses_reference``: False when ``quantize`` does not quantize the reference's
    weights but loads its model from elsewhere (``ckpt:``); it is then handed the
    reference itself, read-only, instead of a copy.
    ``needs_calibration``: ``quantize`` reads calibration text (GPTQ, AWQ); its digest
    is then part of the quantized-model cache key.
    ``save``/``load``: how the quantized-model cache (``quant/cache.py``) stores
    this backend's models; the default stores the state-dict tensors that changed.
    """

    name: str = ""
    grammar: str = ""
    library: str = ""
    install_hint: str = ""
    requires: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()
    cacheable: bool = True
    uses_reference: bool = True
    needs_calibration: bool = False

    @abstractmethod
    def parse(self, text: str) -> Recipe | None:
        """``Recipe`` if mine, ``None`` if not mine, ``RecipeError`` if mine but malformed."""

    def available(self) -> tuple[bool, str]:
        """(ok, reason). The reason names the missing module and the install command."""
        missing = [m for m in self.requires if not _importable(m)]
        if missing:
            return False, (f"backend '{self.name}' needs {', '.join(missing)} "
                           f"(not installed); install with: {self.install_hint}")
        return True, f"backend '{self.name}' is available ({self.library})"

    @abstractmethod
    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None,
                 device=None) -> QuantResult:
        """Quantize ``model`` (in place is fine) and return a ``QuantResult``."""

    def save(self, result: QuantResult, directory, reference) -> bool:
        """Write ``result``'s model into the (empty) folder ``directory`` for the quantized-model cache.

        Default: the state-dict tensors that differ from the ``reference`` (a ``LoadedModel``),
        as safetensors; False (nothing cached) when the quantized model's tensors do not have
        the reference's names, shapes and dtypes. See ``quant/cache.py``.
        """
        from pytest_qfacts.quant.cache import save_changed_tensors

        return save_changed_tensors(result.model, reference.model, directory)

    def load(self, reference, directory, recipe: Recipe, *, copy: bool = True):
        """The model ``save`` stored in ``directory``: by default a copy of ``reference.model``
        (the model itself when ``copy`` is False) with the stored tensors loaded into it."""
        from pytest_qfacts.quant.cache import load_changed_tensors

        return load_changed_tensors(reference.model, directory, copy=copy)

    def match_recipe(self, text: str, pattern, hint: str = "", kind: str | None = None):
        """``pattern`` matched against ``text`` (stripped, lower case), or a RecipeError
        "malformed KIND recipe 'TEXT'; accepted: GRAMMAR HINT" (KIND: this backend's name)."""
        m = pattern.match(text.strip().lower())
        if not m:
            raise RecipeError(f"malformed {kind or self.name} recipe '{text.strip()}'; accepted: {self.grammar}{hint}")
        return m

    def owns(self, text: str) -> bool:
        """True when ``text`` starts with this backend's prefix (``name`` or ``name-``)."""
        t = text.strip().lower()
        return t == self.name or t.startswith(self.name + "-")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}: {self.grammar}>"


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # parent package missing, or odd __spec__
        return False


def packed_weight_bytes(model, quantized: Mapping[str, int | None], group_size: int | None,
                        *, zeros: bool = True, scale_bytes: int = 2) -> int:
    """Bytes the parameters of ``model`` would take once packed.

    For each module named in ``quantized`` (name -> bits; None/16 means kept):
    ``ceil(numel(weight) * bits / 8) + n_groups * scale_bytes * (2 if zeros else 1)``
    with ``n_groups = out_features * in_features / group_size`` (one group per
    output row when ``group_size`` is None or <= 0); scales and zero points are
    fp16 (2 bytes) each. Every other parameter (biases, norms, embeddings, kept
    layers) counts ``numel * element_size``. Shared (tied) parameters count once.
    """
    modules = dict(model.named_modules())
    packed: dict[int, int] = {}
    for name, bits in quantized.items():
        if bits is None or bits >= 16:
            continue
        w = modules[name].weight
        rows = w.shape[0]
        cols = w.numel() // max(rows, 1)
        groups = rows if not group_size or group_size <= 0 else rows * math.ceil(cols / group_size)
        packed[id(w)] = math.ceil(w.numel() * bits / 8) + groups * scale_bytes * (2 if zeros else 1)
    total = 0
    for p in model.parameters():  # deduplicates shared parameters
        total += packed.get(id(p), p.numel() * p.element_size())
    return total
