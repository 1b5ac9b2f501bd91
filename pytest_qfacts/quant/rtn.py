"""Built-in round-to-nearest (RTN) fake quantization: recipes ``rtn-w{2..8}g{N}[-sym]``.

``rtn-w4g64`` quantizes every ``nn.Linear`` except ``lm_head`` to 4 bits, one
scale and zero point per (output row, contiguous group of 64 input columns);
``-sym`` selects the symmetric variant. Weights are replaced in place by their
dequantized values in the model's own dtype ("fake quant"); the arithmetic runs
in float32 whatever the model dtype. With ``maxq = 2**bits - 1``, per group:

* asymmetric (default), min-max with zero point; the range is widened to include
  0, as GPTQ and the Hugging Face quantizers do, so 0 is exactly representable
  and |w - w'| <= scale/2 holds even for all-positive groups:
  ``lo = min(min(w), 0)``, ``hi = max(max(w), 0)``,
  ``scale = (hi - lo) / maxq`` (scale == 0 -> 1),
  ``zero = clamp(round(-lo / scale), 0, maxq)``;
* symmetric (GPTQ convention): ``scale = 2 * max|w| / maxq`` (scale == 0 -> 1),
  ``zero = 2**(bits-1)``;
* then ``q = clamp(round(w / scale) + zero, 0, maxq)`` and ``w' = (q - zero) * scale``.

``round`` is round-half-to-even (``torch.round``). Asymmetric RTN is idempotent;
symmetric is not in general (the clamped level -2**(bits-1) changes max|w|).

Group-size rule: the group size must divide the ``in_features`` of every layer
that would be quantized (so it cannot exceed any of them). Otherwise
``RecipeError`` names the recipe, the first offending module, its in_features
and the group size, and lists the group sizes that divide all quantized layers
(the divisors of the gcd of their in_features). The check runs on every layer
before any weight changes: an error never leaves a model half quantized.

Module-name patterns (include, exclude, overrides) are ``fnmatch`` patterns
matched against the full dotted name or any dotted suffix of it, so ``lm_head``
matches ``lm_head`` and ``model.lm_head``, and ``*.mlp.*`` matches
``model.layers.0.mlp.up_proj``.
"""
from __future__ import annotations

import math
import re
import sys
import time
from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe, packed_weight_bytes

GRAMMAR = "rtn-w{2..8}g{N}[-sym]"
_RECIPE_RE = re.compile(r"^rtn-w(\d+)g(\d+)(-sym)?$")


def recipe_name(bits: int, group_size: int, sym: bool = False) -> str:
    return f"rtn-w{bits}g{group_size}" + ("-sym" if sym else "")


def _matches(name: str, pattern: str) -> bool:
    return fnmatchcase(name, pattern) or fnmatchcase(name, "*." + pattern)


def _check_bits(bits, where: str) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or not 2 <= bits <= 8:
        raise RecipeError(f"{where}: bits must be an integer in 2..8 (or 16/None to keep "
                          f"a layer unquantized), got {bits!r}; grammar: {GRAMMAR}")
    return bits


def plan_rtn(model, bits: int, group_size: int, *, include: Iterable[str] = ("*",),
             exclude: Iterable[str] = ("lm_head",), overrides: Mapping[str, int | None] | None = None,
             recipe: str | None = None) -> dict[str, int]:
    """The layers ``quantize_rtn`` would quantize, ``{module_name: bits}``; changes nothing.

    Raises ``RecipeError`` for bad bits, an empty selection, or a group size that
    does not divide every selected layer's in_features (see the module docstring).
    """
    import torch.nn as nn

    recipe = recipe or recipe_name(bits, group_size)
    _check_bits(bits, f"recipe '{recipe}'")
    if isinstance(group_size, bool) or not isinstance(group_size, int) or group_size < 1:
        raise RecipeError(f"recipe '{recipe}': group size must be an integer >= 1, "
                          f"got {group_size!r}; grammar: {GRAMMAR}")
    include, exclude = tuple(include), tuple(exclude)
    overrides = dict(overrides or {})
    selected = [(n, m) for n, m in model.named_modules()
                if isinstance(m, nn.Linear) and any(_matches(n, p) for p in include)
                and not any(_matches(n, p) for p in exclude)]
    if not selected:
        raise RecipeError(f"recipe '{recipe}': no nn.Linear module matches include={list(include)} "
                          f"exclude={list(exclude)}")
    plan: dict[str, int] = {}
    for name, _ in selected:
        b: int | None = bits
        for pattern, ob in overrides.items():
            if _matches(name, pattern):
                b = ob
                break
        if b is None or b == 16:
            continue
        plan[name] = _check_bits(b, f"recipe '{recipe}', override for '{name}'")
    if not plan:
        return plan
    mods = dict(selected)
    sizes = [mods[n].in_features for n in plan]
    for name in plan:
        inf = mods[name].in_features
        if inf % group_size:
            g = 0
            for s in sizes:
                g = math.gcd(g, s)
            divisors = [d for d in range(1, g + 1) if g % d == 0]
            raise RecipeError(
                f"recipe '{recipe}': module '{name}' has in_features={inf}, which group size "
                f"{group_size} does not divide (the group size must divide the in_features of "
                f"every quantized layer); group sizes that divide all {len(plan)} quantized "
                f"layers: {', '.join(map(str, divisors))}")
    return plan


def fake_quantize_(weight, bits: int, group_size: int, *, sym: bool = False):
    """Replace ``weight`` [out, in] in place by its RTN-dequantized value; returns it."""
    import torch

    out_f, in_f = weight.shape
    maxq = 2 ** bits - 1
    with torch.no_grad():
        w = weight.detach().to(torch.float32).reshape(out_f, in_f // group_size, group_size)
        if sym:
            scale = 2 * w.abs().amax(dim=-1, keepdim=True) / maxq
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            zero = torch.full_like(scale, 2 ** (bits - 1))
        else:
            lo = w.amin(dim=-1, keepdim=True).clamp(max=0)
            hi = w.amax(dim=-1, keepdim=True).clamp(min=0)
            scale = (hi - lo) / maxq
            scale = torch.where(scale == 0, torch.ones_like(scale), scale)
            zero = torch.clamp(torch.round(-lo / scale), 0, maxq)
        q = torch.clamp(torch.round(w / scale) + zero, 0, maxq)
        deq = ((q - zero) * scale).reshape(out_f, in_f)
        weight.copy_(deq.to(weight.dtype))
    return weight


def quantize_rtn(model, bits: int, group_size: int, *, sym: bool = False,
                 include: Iterable[str] = ("*",), exclude: Iterable[str] = ("lm_head",),
                 overrides: Mapping[str, int | None] | None = None,
                 recipe: str | None = None) -> dict[str, int]:
    """Fake-quantize the selected ``nn.Linear`` layers of ``model`` in place.

    A layer is selected when its name matches an ``include`` pattern and no
    ``exclude`` pattern; ``overrides`` (pattern -> bits, first match wins, 16 or
    None = keep unquantized) set per-layer bits among the selected layers.
    ``recipe`` is the name used in error messages. Returns ``{module_name: bits}``
    for the layers actually quantized. Validates everything before changing anything.
    """
    recipe = recipe or recipe_name(bits, group_size, sym)
    plan = plan_rtn(model, bits, group_size, include=include, exclude=exclude,
                    overrides=overrides, recipe=recipe)
    modules = dict(model.named_modules())
    for name, b in plan.items():
        fake_quantize_(modules[name].weight.data, b, group_size, sym=sym)
    return plan


class RTNBackend(QuantBackend):
    name = "rtn"
    grammar = GRAMMAR
    library = "pytest-qfacts"
    install_hint = "built in; needs only torch (pip install torch)"
    requires = ("torch",)
    examples = ("rtn-w8g128", "rtn-w4g128", "rtn-w4g64-sym", "rtn-w3g64")

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE, " (bits 2..8, group size N >= 1, e.g. rtn-w4g128, rtn-w4g64-sym)")
        bits, group = int(m.group(1)), int(m.group(2))
        if not 2 <= bits <= 8:
            raise RecipeError(f"rtn recipe '{text.strip()}': bits must be 2..8, got {bits}; "
                              f"accepted: {GRAMMAR}")
        if group < 1:
            raise RecipeError(f"rtn recipe '{text.strip()}': group size must be >= 1, got {group}; "
                              f"accepted: {GRAMMAR}")
        sym = bool(m.group(3))
        return Recipe(text=recipe_name(bits, group, sym), backend=self.name, bits=bits,
                      group_size=group, options={"sym": sym})

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None,
                 device=None) -> QuantResult:
        sym = bool(recipe.options.get("sym", False))
        assert recipe.bits is not None and recipe.group_size is not None  # parse() sets both on every rtn recipe
        start = time.perf_counter()
        plan = quantize_rtn(model, recipe.bits, recipe.group_size, sym=sym, recipe=recipe.text)
        seconds = time.perf_counter() - start
        return QuantResult(
            model=model, recipe=recipe, library=self.library,
            library_version=getattr(sys.modules.get("pytest_qfacts"), "__version__", "unknown"),
            bits=recipe.bits, group_size=recipe.group_size, seconds=seconds,
            weight_bytes=packed_weight_bytes(model, plan, recipe.group_size, zeros=not sym),
            details=dict(plan))
