"""bitsandbytes: recipes ``bnb-int8``, ``bnb-nf4``, ``bnb-fp4``; ``-dq`` adds double quantization (4-bit only).

Every ``nn.Linear`` except ``lm_head`` becomes a bitsandbytes layer, with the
settings transformers' ``BitsAndBytesConfig`` uses by default:

* ``bnb-int8``: ``Linear8bitLt`` (LLM.int8()): the weight is cast to float16
  (``w16``), then per output row ``SCB = max|w16|`` (float32) and
  ``q = round(w16 * (127 / SCB))`` (int8), ``w' = q * SCB / 127``; in the forward, activation
  columns with an entry above ``threshold = 6.0`` are multiplied in 16-bit,
  the rest in int8. Bits 8, no groups (one scale per row).
* ``bnb-nf4`` / ``bnb-fp4``: ``Linear4bit``: the flattened weight is cut into
  blocks of 64, each scaled by its absmax (float32) and rounded to the nearest of
  16 NF4 (normal-float) or FP4 code values, two codes per byte. ``-dq``
  (double quantization) stores the absmax values themselves in 8 bits, in
  blocks of 256, saving ~0.37 bits per weight. Bits 4, group size 64.

The forward runs in the model's dtype (float32 or bfloat16; float16 on CPU is
computed in float32, being several times slower there).

CPU notes (bitsandbytes 0.50.2, handled here): it needs ``accelerate``; on
AVX512-BF16 CPUs its 4-bit layers switch to a bfloat16 kernel whose weight
repacking asserts dimensions that are multiples of 32 and whose bfloat16
arithmetic makes scores depend on the CPU, so the layers get
``support_avx512bf16_for_cpu = False`` (the portable dequantize + matmul path);
the 8-bit matmul logs "inputs will be cast from torch.float32 to float16" on
every call with float32 inputs: that record (only that one) is dropped.

``weight_bytes``: the bytes bitsandbytes stores (``stored_bytes``): int8 or
packed 4-bit weights, their scales (``SCB``; the 4-bit quantization state as
``as_dict(packed=True)`` serialises it) and every layer left in full precision.
"""
from __future__ import annotations

import re
import time

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantBackend, QuantResult, Recipe
from pytest_qfacts.quant.footprint import stored_bytes
from pytest_qfacts.quant.library_support import (
    compute_dtype,
    drop_log_records,
    import_library,
    library_version,
    set_module,
    target_linears,
)

GRAMMAR = "bnb-int8 | bnb-nf4[-dq] | bnb-fp4[-dq]"
_RECIPE_RE = re.compile(r"^bnb-(int8|nf4|fp4)(-dq)?$")
INT8_THRESHOLD = 6.0
BLOCKSIZE = 64


class BnbBackend(QuantBackend):
    name = "bnb"
    grammar = GRAMMAR
    library = "bitsandbytes"
    install_hint = 'pip install "pytest-qfacts[bnb]"'
    requires = ("bitsandbytes", "accelerate")
    examples = ("bnb-int8", "bnb-nf4", "bnb-fp4", "bnb-nf4-dq")
    cacheable = False  # bitsandbytes layers do not fit the state-dict cache (a save/load like hqq.py's is future work)

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        m = self.match_recipe(text, _RECIPE_RE, " (-dq: double quantization of the 4-bit scales)", kind="bitsandbytes")
        kind, dq = m.group(1), bool(m.group(2))
        if kind == "int8" and dq:
            raise RecipeError(f"bitsandbytes recipe '{text.strip()}': -dq (double quantization) applies to the "
                              f"4-bit types only; accepted: {GRAMMAR}")
        if kind == "int8":
            return Recipe(text="bnb-int8", backend=self.name, bits=8, group_size=None, options={"quant_type": "int8"})
        return Recipe(text=f"bnb-{kind}" + ("-dq" if dq else ""), backend=self.name, bits=4, group_size=BLOCKSIZE,
                      options={"quant_type": kind, "double_quant": dq})

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        import_library(self, "accelerate")
        bnb = import_library(self, "bitsandbytes")
        drop_log_records("bitsandbytes.autograd._functions", "MatMul8bitLt: inputs will be cast from")
        device = str(device or next(model.parameters()).device)
        kind = recipe.options["quant_type"]
        dtype = compute_dtype(model, device)
        names = target_linears(model, recipe.text)
        start = time.perf_counter()
        for name in names:
            set_module(model, name, _bnb_linear(bnb, model.get_submodule(name), recipe, dtype, device))
        model.eval()
        seconds = time.perf_counter() - start
        info = {"quant_type": kind, "compute_dtype": str(dtype).replace("torch.", "")}
        if kind == "int8":
            info["threshold"] = INT8_THRESHOLD
        else:
            info["double_quant"] = bool(recipe.options["double_quant"])
        return QuantResult(model=model, recipe=recipe, library=self.library,
                           library_version=library_version("bitsandbytes"), bits=recipe.bits,
                           group_size=recipe.group_size, seconds=seconds,
                           weight_bytes=stored_bytes(model, extra=_bnb_state_tensors),
                           details={n: recipe.bits for n in names}, info=info)


def _bnb_linear(bnb, linear, recipe: Recipe, dtype, device: str):
    """A bitsandbytes layer holding ``linear``'s weights, quantized on ``device``."""
    weight = linear.weight.data.to("cpu")  # bitsandbytes quantizes when a CPU parameter moves to the device
    has_bias = linear.bias is not None
    if recipe.options["quant_type"] == "int8":
        new = bnb.nn.Linear8bitLt(linear.in_features, linear.out_features, bias=has_bias, has_fp16_weights=False,
                                  threshold=INT8_THRESHOLD)
        new.weight = bnb.nn.Int8Params(weight, requires_grad=False, has_fp16_weights=False)
    else:
        kind, dq = recipe.options["quant_type"], bool(recipe.options["double_quant"])
        new = bnb.nn.Linear4bit(linear.in_features, linear.out_features, bias=has_bias, compute_dtype=dtype,
                                compress_statistics=dq, quant_type=kind)
        new.weight = bnb.nn.Params4bit(weight, requires_grad=False, compress_statistics=dq, quant_type=kind,
                                       blocksize=BLOCKSIZE, module=new)
    if has_bias:
        new.bias = type(linear.bias)(linear.bias.data.to("cpu"), requires_grad=False)
    new = new.to(device)
    new.requires_grad_(False)
    if hasattr(new, "support_avx512bf16_for_cpu"):
        new.support_avx512bf16_for_cpu = False
    return new.eval()


def _bnb_state_tensors(module):
    """The tensors bitsandbytes keeps beside a layer's weight: int8 row scales, 4-bit quantization state."""
    weight = getattr(module, "weight", None)
    if weight is None:
        return ()
    out = []
    scb = getattr(weight, "SCB", None)
    if scb is not None:
        out.append(scb)
    state = getattr(weight, "quant_state", None)
    if state is not None and hasattr(state, "as_dict"):
        out.extend(v for v in state.as_dict(packed=True).values() if hasattr(v, "element_size"))
    return out
