"""The dense weight of a linear layer, whichever library quantized it (for probes that read weights).

``dense_weight(module)`` returns the layer's weight as a float tensor of shape
``[out_features, in_features]`` (``nn.Linear``'s layout), dequantized by the
library's own code:

* ``nn.Linear`` (and RTN, GPTQ/AWQ on CPU, which write dequantized weights back): the weight;
* bitsandbytes ``Linear4bit``: ``bitsandbytes.functional.dequantize_4bit(weight, quant_state)``;
* bitsandbytes ``Linear8bitLt``: ``int8_vectorwise_dequant(CB, SCB)`` (``SCB`` moves from the
  weight to ``module.state`` at the first forward);
* HQQ ``HQQLinear``: ``module.dequantize()``;
* torchao / quanto weights (tensor subclasses): ``weight.dequantize()``.

``in_features(module)``: the layer's input width, for layers whose ``weight`` is packed.
"""
from __future__ import annotations


def dense_weight(module):
    import torch

    weight = getattr(module, "weight", None)
    if weight is None and callable(getattr(module, "dequantize", None)):   # HQQLinear keeps W_q, not weight
        return module.dequantize().float()
    state = getattr(weight, "quant_state", None)
    if state is not None:                                                   # bitsandbytes 4-bit
        import bitsandbytes.functional as F

        return F.dequantize_4bit(weight.data, state).float()
    if weight is not None and weight.dtype == torch.int8 and type(module).__name__ == "Linear8bitLt":
        import bitsandbytes.functional as F

        scb = weight.SCB if getattr(weight, "SCB", None) is not None else module.state.SCB
        return F.int8_vectorwise_dequant(weight.data, scb).float()
    if weight is not None and type(weight) not in (torch.Tensor, torch.nn.Parameter) and callable(
            getattr(weight, "dequantize", None)):                           # torchao, quanto
        return weight.dequantize().float()
    return weight.float()


def in_features(module) -> int | None:
    """``module.in_features`` when the layer declares it (nn.Linear and the library layers), else None."""
    value = getattr(module, "in_features", None)
    return int(value) if value is not None else None
