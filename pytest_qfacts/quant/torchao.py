"""torchao weight-only quantization: recipes ``torchao-int8wo`` and ``torchao-int4wo[-g{32,64,128,256}]``.

``torchao.quantization.quantize_`` on every ``nn.Linear`` except ``lm_head``;
the weight becomes a torchao tensor subclass, activations stay in the model's dtype.

* ``torchao-int8wo``: ``Int8WeightOnlyConfig`` (per output row, symmetric):
  ``scale = max|w| / 127.5`` (``max|w|`` over the row),
  ``q = clamp(round(w * (1 / scale)), -128, 127)`` in int8, ``w' = q * scale``.
  Bits 8, no groups.
* ``torchao-int4wo`` (group size 128 unless ``-gN``): asymmetric int4 per group
  of ``N`` input features, on the grid of ``rtn-w4gN``: ``lo = min(min w, 0)``,
  ``hi = max(max w, 0)``, ``scale = (hi - lo) / 15``, ``w' = (q - zero) * scale``.
  On CUDA with a bfloat16 model: ``Int4WeightOnlyConfig`` with the tinygemm
  layout (``tile_packed_to_4d``, torch's ``_weight_int4pack_mm`` kernel).
  Elsewhere (CPU, where Int4WeightOnlyConfig has no kernel, or a non-bfloat16
  model): ``IntxWeightOnlyConfig(weight_dtype=torch.int4, PerGroup(N),
  ASYMMETRIC)``, which keeps each int4 value in an int8 and dequantizes in the
  forward, so its bytes are those of 8-bit weights (``info.kernel`` says which).
  The group size must divide every quantized layer's in_features (torchao would
  silently leave such a layer unquantized); the error lists those that would.

``set_inductor_config=False``: torchao would otherwise change torch's global
inductor settings. ``weight_bytes``: the inner tensors of the torchao weights
(data, scales, zero points) plus every full-precision layer (``stored_bytes``).
"""
from __future__ import annotations

import re
import time

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe
from pytest_qfacts.quant.footprint import stored_bytes
from pytest_qfacts.quant.library_support import import_library, library_version, model_dtype, target_linears

GRAMMAR = "torchao-int8wo | torchao-int4wo[-g{32,64,128,256}]  (int4 default group 128)"
INT4_GROUPS = (32, 64, 128, 256)
_RECIPE_RE = re.compile(r"^torchao-(int8wo|int4wo)(?:-g(\d+))?$")


class TorchAOBackend(QuantBackend):
    name = "torchao"
    grammar = GRAMMAR
    library = "torchao"
    install_hint = 'pip install "pytest-qfacts[torchao]"'
    requires = ("torchao",)
    examples = ("torchao-int8wo", "torchao-int4wo", "torchao-int4wo-g64")
    cacheable = False  # torchao tensor subclasses save only through pickle, which the cache never uses

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE)
        kind, group = m.group(1), m.group(2)
        if kind == "int8wo":
            if group is not None:
                raise RecipeError(f"torchao recipe '{text.strip()}': int8wo has one scale per output row and takes "
                                  f"no group size; accepted: {GRAMMAR}")
            return Recipe(text="torchao-int8wo", backend=self.name, bits=8, group_size=None)
        size = int(group) if group is not None else 128
        if size not in INT4_GROUPS:
            raise RecipeError(f"torchao recipe '{text.strip()}': int4 group size must be one of "
                              f"{', '.join(map(str, INT4_GROUPS))}, got {size}; accepted: {GRAMMAR}")
        return Recipe(text="torchao-int4wo" + ("" if group is None else f"-g{size}"), backend=self.name, bits=4,
                      group_size=size)

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        import torch

        quantization = import_library(self, "torchao.quantization")
        device = str(device or next(model.parameters()).device)
        names = set(target_linears(model, recipe.text, recipe.group_size, choices=INT4_GROUPS.__contains__))
        if recipe.bits == 8:
            config, kernel = quantization.Int8WeightOnlyConfig(set_inductor_config=False), "int8-weight-only"
        elif device.startswith("cuda") and model_dtype(model) == torch.bfloat16:
            config = quantization.Int4WeightOnlyConfig(group_size=recipe.group_size, set_inductor_config=False,
                                                       int4_packing_format="tile_packed_to_4d")
            kernel = "int4-weight-only (tinygemm, tile_packed_to_4d)"
        else:
            granularity = import_library(self, "torchao.quantization.granularity")
            primitives = import_library(self, "torchao.quantization.quant_primitives")
            # torch.int4 exists at runtime (torch >= 2.3), but torch's _C/__init__.pyi omits int1..int7
            config = quantization.IntxWeightOnlyConfig(weight_dtype=torch.int4,  # type: ignore[attr-defined]
                                                       granularity=granularity.PerGroup(recipe.group_size),
                                                       mapping_type=primitives.MappingType.ASYMMETRIC)
            kernel = "intx-weight-only (int4 values kept in int8, dequantized in the forward)"
        start = time.perf_counter()
        quantization.quantize_(model, config, filter_fn=lambda module, fqn: fqn in names)
        seconds = time.perf_counter() - start
        return QuantResult(model=model, recipe=recipe, library=self.library,
                           library_version=library_version("torchao"), bits=recipe.bits,
                           group_size=recipe.group_size, seconds=seconds, weight_bytes=stored_bytes(model),
                           details={n: recipe.bits for n in sorted(names)}, info={"kernel": kernel})
