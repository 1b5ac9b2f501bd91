"""optimum-quanto weight quantization: recipes ``quanto-int8``, ``quanto-int4``, ``quanto-int2``.

``optimum.quanto.quantize(model, weights=qintN, exclude=lm_head)`` then
``freeze(model)``: every ``nn.Linear`` except ``lm_head`` becomes a ``QLinear``
whose weight is stored quantized; activations stay in the model's dtype.

* ``quanto-int8``: symmetric, one scale per output row: ``scale = max|w| / 127``,
  ``q = round(w / scale)`` (int8). Bits 8, no groups.
* ``quanto-int4`` / ``quanto-int2``: asymmetric per group (the range is not
  widened to include 0): ``scale = (max - min) / (2^b - 1)``, ``shift = -min``,
  ``q = clamp(round((w + shift) / scale), 0, 2^b - 1)``, ``w' = q * scale - shift``;
  values packed two (four) to a byte.
  quanto picks the group size per layer: 128 when in_features > 128, else the
  next multiple of 32 below 128 that divides in_features (so 96 for 576-wide
  layers), or one group per row when in_features <= 128 or nothing fits. The
  result's ``group_size`` is that size when it is the same for every layer, else
  None; ``info.group_sizes`` lists the sizes used.

The scorer runs models under ``torch.inference_mode``, where quanto's packed
weights raise "Cannot set version_counter for inference tensor"; each quantized
layer therefore runs its forward under ``no_grad`` instead (same numbers).

Not cacheable: a quanto model cannot be saved through transformers
(``cacheable = False``, the quantized-model cache leaves it alone).
``weight_bytes``: the inner tensors of quanto's weights (packed data, scales,
shifts) plus every full-precision layer (``stored_bytes``).
"""
from __future__ import annotations

import re
import time

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe
from pytest_qfacts.quant.footprint import stored_bytes
from pytest_qfacts.quant.library_support import import_library, library_version, target_linears

GRAMMAR = "quanto-int{2,4,8}"
_RECIPE_RE = re.compile(r"^quanto-int(\d+)$")


class QuantoBackend(QuantBackend):
    name = "quanto"
    grammar = GRAMMAR
    library = "optimum-quanto"
    install_hint = 'pip install "pytest-qfacts[quanto]"'
    requires = ("optimum.quanto",)
    examples = ("quanto-int8", "quanto-int4", "quanto-int2")
    cacheable = False

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        t = text.strip().lower()
        m = _RECIPE_RE.match(t)
        if not m or int(m.group(1)) not in (2, 4, 8):
            raise RecipeError(f"malformed quanto recipe '{text.strip()}'; accepted: {GRAMMAR} "
                              f"(quanto-int8, quanto-int4, quanto-int2)")
        bits = int(m.group(1))
        return Recipe(text=f"quanto-int{bits}", backend=self.name, bits=bits, group_size=None)

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        quanto = import_library(self, "optimum.quanto")
        names = target_linears(model, recipe.text)
        assert recipe.bits is not None  # parse() sets bits on every quanto recipe
        qtype = {8: quanto.qint8, 4: quanto.qint4, 2: quanto.qint2}[recipe.bits]
        start = time.perf_counter()
        quanto.quantize(model, weights=qtype, include=names)
        quanto.freeze(model)
        seconds = time.perf_counter() - start
        for name in names:
            _outside_inference_mode(model.get_submodule(name))
        groups = {n: _group_size(model.get_submodule(n)) for n in names}
        sizes = set(groups.values())
        common = next(iter(sizes)) if len(sizes) == 1 else None
        return QuantResult(model=model, recipe=recipe, library=self.library,
                           library_version=library_version("optimum-quanto"), bits=recipe.bits,
                           group_size=common,
                           seconds=seconds, weight_bytes=stored_bytes(model),
                           details={n: recipe.bits for n in names},
                           info={"group_sizes": sorted(sizes, key=lambda g: (g is None, g or 0))})


def _outside_inference_mode(layer) -> None:
    """Run ``layer`` under ``no_grad`` instead of ``inference_mode``: quanto's packed (int2/int4)
    weights fail inside inference mode ("Cannot set version_counter for inference tensor")."""
    import functools

    import torch

    forward = layer.forward

    @functools.wraps(forward)
    def run(*args, **kwargs):
        with torch.inference_mode(False), torch.no_grad():
            return forward(*args, **kwargs)

    layer.forward = run


def _group_size(layer) -> int | None:
    """quanto's group size of a layer (a row counts as one group of in_features); None for per-row int8."""
    if getattr(layer, "weight_qtype", None) is None or layer.weight_qtype.bits == 8:
        return None
    return getattr(layer, "weight_group_size", None) or layer.in_features
