"""GPTQ through GPTQModel: recipes ``gptq-w{2,3,4,8}g{N}``.

GPTQ (Frantar et al., 2023) quantizes every ``nn.Linear`` of each decoder layer
except ``lm_head``, one layer after the other, on the inputs that calibration
text produces there: for a layer with weight ``W`` and calibration inputs ``X``
it minimises ``||W X - W_q X||^2`` column by column, spreading each column's
rounding error over the columns not yet quantized with the inverse Hessian
``H^-1``, ``H = 2 X X^T + damp * mean(diag) * I`` (``damp`` 0.05). Grid per
group of ``N`` consecutive input features of one output row, symmetric (GPTQ
convention, ``zero = 2^(b-1)``), no activation reordering (``desc_act=False``).

Calibration: ``--qfacts-calibration`` (default: the text shipped with the
package), ``--qfacts-calibration-samples`` windows of
``--qfacts-calibration-length`` tokens (see ``quant/calibration.py``).

Group sizes: a power of two from 16 to 1024 (what GPTQModel's kernels accept).
It need not divide a layer's in_features: GPTQModel's torch kernel handles a
last, shorter group (SmolLM2's 576-wide layers take ``g128``).
Quantizing, the checkpoint it writes and how it is loaded back on CPU and CUDA:
``quant/gptqmodel_io.py``. GPTQModel 7.6.0 is the version that quantizes on CPU
next to a CPU build of torch 2.13 (7.7.0 requires torch>=2.14.1): install with
``pip install -c .ci/constraints.txt "pytest-qfacts[gptq]"``.
"""
from __future__ import annotations

import re

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe

GRAMMAR = "gptq-w{2,3,4,8}g{N}  (N in 16, 32, ..., 1024)"
BITS = (2, 3, 4, 8)
GROUPS = (16, 32, 64, 128, 256, 512, 1024)  # the group sizes GPTQModel's kernels accept
_RECIPE_RE = re.compile(r"^gptq-w(\d+)g(\d+)$")
INSTALL = 'pip install -c .ci/constraints.txt "pytest-qfacts[gptq]"  (gptqmodel==7.6.0 with a CPU torch)'


class GPTQModelBackend(QuantBackend):
    """What the GPTQModel backends (GPTQ, AWQ) share: their cache entry is GPTQModel's checkpoint folder."""

    def save(self, result: QuantResult, directory, reference) -> bool:
        from pytest_qfacts.quant.gptqmodel_io import save_checkpoint

        return save_checkpoint(result, directory)

    def load(self, reference, directory, recipe: Recipe, *, copy: bool = True):
        from pytest_qfacts.quant.gptqmodel_io import load_checkpoint

        return load_checkpoint(self, reference.model, directory, reference.device, copy_reference=copy)


class GPTQBackend(GPTQModelBackend):
    name = "gptq"
    grammar = GRAMMAR
    library = "gptqmodel"
    install_hint = INSTALL
    requires = ("gptqmodel",)
    examples = ("gptq-w4g64", "gptq-w4g128", "gptq-w8g64", "gptq-w3g64", "gptq-w2g64")
    needs_calibration = True

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE, ", e.g. gptq-w4g128")
        bits, group = int(m.group(1)), int(m.group(2))
        if bits not in BITS:
            raise RecipeError(f"gptq recipe '{text.strip()}': bits must be one of {', '.join(map(str, BITS))}, "
                              f"got {bits}; accepted: {GRAMMAR}")
        if group not in GROUPS:
            raise RecipeError(f"gptq recipe '{text.strip()}': group size must be one of "
                              f"{', '.join(map(str, GROUPS))} (GPTQModel's kernels), got {group}; accepted: {GRAMMAR}")
        return Recipe(text=f"gptq-w{bits}g{group}", backend=self.name, bits=bits, group_size=group,
                      options={"sym": True, "desc_act": False})

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        from pytest_qfacts.quant.gptqmodel_io import quantize_with_gptqmodel

        return quantize_with_gptqmodel(self, model, recipe, method="gptq", tokenizer=tokenizer,
                                       calibration=calibration, device=device)
