"""AWQ through GPTQModel: recipes ``awq-w4g{N}``, N in 16, 32, 64, 128.

Why not AutoAWQ: its authors deprecated it, its kernels do not run on CPU, and
transformers itself moved AWQ loading to GPTQModel; GPTQModel quantizes AWQ on
CPU (its ``AWQ_TORCH`` kernel) and on CUDA.

AWQ (Lin et al., 2024) keeps the weights that see large activations precise: for
the layers fed by one input it searches a per-input-channel scale
``s = mean|x|^a / mean|w|^(1-a)`` (normalised by ``sqrt(max(s) min(s))``, ``a`` on
20 grid points in [0, 1)) that minimises ``||W X - Q(W diag(s)) diag(s)^-1 X||^2``
on the calibration inputs, folds ``1/s`` into the preceding norm or layer, then
searches per group how far to shrink the weight range (clipping), and rounds
``W diag(s)`` to 4 bits, asymmetric min-max with a zero point per group of ``N``
consecutive input features of one output row (GPTQModel's GEMM format).

Calibration as for GPTQ (``quant/calibration.py``). The group size must divide
the in_features of every quantized layer and be one of 16, 32, 64, 128 (the
sizes GPTQModel's AWQ kernels accept); checked before anything is quantized.
On CPU AWQ quantizes in bfloat16 (GPTQModel's AWQ layer accepts only 16-bit
dtypes); how the checkpoint is loaded back: ``quant/gptqmodel_io.py``.
"""
from __future__ import annotations

import re

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantResult, Recipe
from pytest_qfacts.quant.gptq import INSTALL, GPTQModelBackend

GRAMMAR = "awq-w4g{N}  (N in 16, 32, 64, 128)"
GROUPS = (16, 32, 64, 128)
_RECIPE_RE = re.compile(r"^awq-w(\d+)g(\d+)$")


class AWQBackend(GPTQModelBackend):
    name = "awq"
    grammar = GRAMMAR
    library = "gptqmodel"
    install_hint = INSTALL.replace("[gptq]", "[awq]")
    requires = ("gptqmodel",)
    examples = ("awq-w4g64", "awq-w4g128", "awq-w4g32")
    needs_calibration = True

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE, ", e.g. awq-w4g128")
        bits, group = int(m.group(1)), int(m.group(2))
        if bits != 4:
            raise RecipeError(f"awq recipe '{text.strip()}': AWQ quantizes to 4 bits only, got {bits}; accepted: {GRAMMAR}")
        if group not in GROUPS:
            raise RecipeError(f"awq recipe '{text.strip()}': group size must be one of "
                              f"{', '.join(map(str, GROUPS))}, got {group}; accepted: {GRAMMAR}")
        return Recipe(text=f"awq-w4g{group}", backend=self.name, bits=4, group_size=group,
                      options={"zero_point": True})

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        from pytest_qfacts.quant.gptqmodel_io import quantize_with_gptqmodel
        from pytest_qfacts.quant.library_support import target_linears

        target_linears(model, recipe.text, recipe.group_size)  # the group-size rule, before any work
        return quantize_with_gptqmodel(self, model, recipe, method="awq", tokenizer=tokenizer,
                                       calibration=calibration, device=device)
