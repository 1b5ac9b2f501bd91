"""HQQ (Half-Quadratic Quantization): recipes ``hqq-w{1,2,3,4,8}g{N}``.

Through hqq's own API (``hqq.core.quantize.HQQLinear``): transformers'
``HqqConfig`` raises NotImplementedError in transformers 5.23. Every
``nn.Linear`` except ``lm_head`` is replaced by an ``HQQLinear`` with
``BaseQuantizeConfig(nbits, group_size, axis=1)``: groups of ``N`` consecutive
input features of one output row, asymmetric, ``W ~ (W_q - zero) * scale``,
where HQQ starts from min-max (``scale = (2^b - 1)/(max - min)``,
``zero = -min * scale``) and then refines ``zero`` and ``scale`` by a
half-quadratic proximal solver minimising ``|W - dequant(W_q)|_p^p`` with
``p < 1`` (robust to outliers), without calibration data. Scales and zeros stay
in float32 (HQQ's zero rounding at 4 bits included); the quantized values are
bit-packed (2, 4 or 8 per byte; 3-bit values ten per int32).

Group-size rule: ``N`` must be a multiple of 8 (HQQ's own requirement) and
divide the in_features of every quantized layer (checked before any weight
changes, the error lists the sizes that would fit).

Forward: HQQ's PyTorch backend dequantizes and multiplies in the model's dtype
(float16 on CPU is computed in float32, being several times slower there).
``weight_bytes``: packed ``W_q`` + scales + zeros + every full-precision layer.

Cached: ``save`` writes each HQQLinear's state dict (hqq's own safetensors-ready
encoding) and ``load`` rebuilds the layers from it in a copy of the reference, so a
second run reads the quantized model instead of running the solver again (about
90 s for SmolLM2-135M on a 2-core CPU).
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe
from pytest_qfacts.quant.footprint import stored_bytes
from pytest_qfacts.quant.library_support import compute_dtype, import_library, library_version, set_module, target_linears

GRAMMAR = "hqq-w{1,2,3,4,8}g{N}  (N a multiple of 8)"
BITS = (1, 2, 3, 4, 8)
_RECIPE_RE = re.compile(r"^hqq-w(\d+)g(\d+)$")
CACHE_FILE = "hqq.safetensors"


class HQQBackend(QuantBackend):
    name = "hqq"
    grammar = GRAMMAR
    library = "hqq"
    install_hint = 'pip install "pytest-qfacts[hqq]"'
    requires = ("hqq",)
    examples = ("hqq-w4g64", "hqq-w8g64", "hqq-w3g64", "hqq-w2g32")

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE, ", e.g. hqq-w4g64")
        bits, group = int(m.group(1)), int(m.group(2))
        if bits not in BITS:
            raise RecipeError(f"hqq recipe '{text.strip()}': bits must be one of {', '.join(map(str, BITS))}, "
                              f"got {bits}; accepted: {GRAMMAR}")
        if group < 8 or group % 8:
            raise RecipeError(f"hqq recipe '{text.strip()}': the group size must be a multiple of 8 (HQQ's rule), "
                              f"got {group}; accepted: {GRAMMAR}")
        return Recipe(text=f"hqq-w{bits}g{group}", backend=self.name, bits=bits, group_size=group)

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        hqq_quantize = import_library(self, "hqq.core.quantize")
        device = str(device or next(model.parameters()).device)
        dtype = compute_dtype(model, device)
        names = target_linears(model, recipe.text, recipe.group_size, choices=lambda g: g % 8 == 0)
        config = hqq_quantize.BaseQuantizeConfig(nbits=recipe.bits, group_size=recipe.group_size, axis=1)
        start = time.perf_counter()
        for name in names:
            layer = hqq_quantize.HQQLinear(model.get_submodule(name), config, del_orig=True, compute_dtype=dtype,
                                           device=device)
            set_module(model, name, layer)
        seconds = time.perf_counter() - start
        return QuantResult(model=model, recipe=recipe, library=self.library, library_version=library_version("hqq"),
                           bits=recipe.bits, group_size=recipe.group_size, seconds=seconds,
                           weight_bytes=stored_bytes(model, extra=_hqq_meta_tensors),
                           details={n: recipe.bits for n in names},
                           info={"axis": 1, "compute_dtype": str(dtype).replace("torch.", "")})


    def save(self, result: QuantResult, directory, reference) -> bool:
        """The quantized-model cache entry: every HQQLinear's own state dict (packed ``W_q``, scales,
        zeros, and its settings as hqq encodes them for safetensors) in ``hqq.safetensors``."""
        from safetensors.torch import save_file

        tensors = {}
        for name in result.details:
            for key, value in result.model.get_submodule(name).state_dict().items():
                tensors[f"{name}.{key}"] = value.detach().to("cpu").contiguous()
        save_file(tensors, str(Path(directory) / CACHE_FILE), metadata={"layers": json.dumps(list(result.details))})
        return True

    def load(self, reference, directory, recipe: Recipe, *, copy: bool = True):
        """A copy of the reference (itself when not ``copy``) whose layers are the stored HQQLinear layers."""
        import copy as _copy

        from safetensors import safe_open
        from safetensors.torch import load_file

        hqq_quantize = import_library(self, "hqq.core.quantize")
        path = str(Path(directory) / CACHE_FILE)
        with safe_open(path, framework="pt") as f:
            names = json.loads(f.metadata()["layers"])
        stored = load_file(path)
        expected = target_linears(reference.model, recipe.text, recipe.group_size)
        if sorted(names) != sorted(expected):
            raise RecipeError(f"{path}: the stored HQQ layers are not those recipe '{recipe.text}' quantizes")
        model = _copy.deepcopy(reference.model) if copy else reference.model
        device = str(reference.device)
        dtype = compute_dtype(model, device)
        for name in names:
            state = {k[len(name) + 1:]: v for k, v in stored.items() if k.startswith(name + ".")}
            layer = hqq_quantize.HQQLinear(None, None, compute_dtype=dtype, device=device, initialize=False)
            layer.load_state_dict(state)
            set_module(model, name, layer)
        return model


def _hqq_meta_tensors(module):
    """HQQ keeps scale, zero and bias as plain attributes, outside parameters and buffers."""
    import torch

    meta = getattr(module, "meta", None)
    if not isinstance(meta, dict) or not hasattr(module, "W_q"):
        return ()
    out = [v for k, v in meta.items() if k in ("scale", "zero") and isinstance(v, torch.Tensor)]
    bias = getattr(module, "bias", None)
    if isinstance(bias, torch.Tensor):
        out.append(bias)
    return out
