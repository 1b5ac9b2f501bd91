"""The dense weight of a linear layer, whichever library quantized it (for probes that read weights).

``dense_weight(module)`` returns the layer's weight as a float tensor of shape
``[out_features, in_features]`` (``nn.Linear``'s layout), dequantized by the
library's own code:

* ``nn.Linear`` (and RTN, GPTQ/AWQ on CPU, which write dequantized weights back): the weight;
* compressed-tensors layers still compressed (``quantization_status`` ``compressed``: a
  pack-quantized checkpoint keeps ``weight_packed``/``weight_scale`` and has no ``weight``
  until the model's first forward unpacks every layer): the library's own decompressor for
  the layer's format (``BaseCompressor.get_value_from_registry(format).decompress``, the
  classmethod interface of compressed-tensors >= 0.19) applied to a copy of the layer's
  tensors; the layer itself stays packed;
* bitsandbytes ``Linear4bit``: ``bitsandbytes.functional.dequantize_4bit(weight, quant_state)``;
* bitsandbytes ``Linear8bitLt``: ``int8_vectorwise_dequant(CB, SCB)`` (``SCB`` moves from the
  weight to ``module.state`` at the first forward);
* HQQ ``HQQLinear``: ``module.dequantize()``;
* torchao / quanto weights (tensor subclasses): ``weight.dequantize()``.

``dense_shape(module)``: the shape ``dense_weight(module)`` has, ``(out_features, in_features)``
for every layer above, read without dequantizing anything (the tracer reads d_ff from it).
"""
from __future__ import annotations

#: compressed-tensors' ``QuantizationStatus.COMPRESSED`` (the enum is a str enum with this value).
CT_COMPRESSED = "compressed"


def dense_weight(module):
    import torch

    weight = getattr(module, "weight", None)
    if _ct_compressed(module):                                              # compressed-tensors, still packed
        return _ct_decompressed_weight(module).float()
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
    if weight is None:
        raise TypeError(f"{type(module).__name__} has no weight that pytest-qfacts knows how to read "
                        f"(neither a dense weight nor one of the quantized layouts listed in trace/weights.py)")
    return weight.float()


def dense_shape(module) -> tuple[int, int]:
    """``tuple(dense_weight(module).shape)`` without dequantizing: ``(out_features, in_features)`` as the
    layer declares them (``nn.Linear`` and every library layer above do), else compressed-tensors'
    ``weight_shape``, else the shape of a plain 2-D weight (e.g. GPT-2's ``Conv1D``, stored
    ``[in, out]``); dequantizes only when none of those exists."""
    out_f, in_f = getattr(module, "out_features", None), getattr(module, "in_features", None)
    if out_f is not None and in_f is not None:
        return int(out_f), int(in_f)
    shape = getattr(module, "weight_shape", None)                           # compressed-tensors, packed
    if shape is not None:
        out_f, in_f = (int(v) for v in shape.tolist())
        return out_f, in_f
    weight = getattr(module, "weight", None)
    if weight is not None and getattr(weight, "quant_state", None) is None and weight.dim() == 2:
        return int(weight.shape[0]), int(weight.shape[1])
    rows, cols = dense_weight(module).shape
    return int(rows), int(cols)


def _ct_compressed(module) -> bool:
    """Whether compressed-tensors manages ``module`` and its weight is still in the compressed layout."""
    status = getattr(module, "quantization_status", None)
    managed = getattr(module, "quantization_scheme", None) is not None
    return managed and getattr(status, "value", status) == CT_COMPRESSED


def _ct_decompressed_weight(module):
    """The layer's weight as compressed-tensors decompresses it (the module is left as it is)."""
    from compressed_tensors.compressors import BaseCompressor
    from compressed_tensors.compressors.format import infer_module_format
    from compressed_tensors.utils import get_direct_state_dict

    scheme = module.quantization_scheme
    fmt = scheme.format or infer_module_format(type(module), scheme)
    compressor = BaseCompressor.get_value_from_registry(getattr(fmt, "value", fmt))
    return compressor.decompress(get_direct_state_dict(module), scheme)["weight"]
