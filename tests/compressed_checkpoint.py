"""A pack-quantized compressed-tensors checkpoint of tiny-facts, written with compressed-tensors' own API (seconds).

``write_pack_quantized(out)`` writes what llm-compressor's W4A16 preset writes, without
llm-compressor: symmetric int4 weights in groups of ``GROUP`` input features (min-max scales
from compressed-tensors' ``calculate_qparams``) for every nn.Linear but ``lm_head``, saved
compressed by ``ModelCompressor`` in the ``pack-quantized`` format (per layer ``weight_packed``
int32 with eight 4-bit values a word, ``weight_scale``, ``weight_shape``), plus tiny-facts'
tokenizer files. transformers loads such a checkpoint packed: ``weight`` appears only when
the model's first forward unpacks every layer.

(tests/ is on sys.path through tests/conftest.py, so every test folder imports this.)
"""
from __future__ import annotations

import shutil
from pathlib import Path

BITS = 4
GROUP = 64
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


def tiny_dir() -> Path:
    from pytest_qfacts.models.registry import tiny_facts_dir

    return tiny_facts_dir()


def copy_tokenizer(directory: Path) -> None:
    for name in TOKENIZER_FILES:
        if (tiny_dir() / name).is_file():
            shutil.copy(tiny_dir() / name, Path(directory) / name)


def write_pack_quantized(out: Path) -> Path:
    """Write the checkpoint into ``out`` (created if needed) and return ``out``."""
    import torch
    from compressed_tensors.compressors import ModelCompressor
    from compressed_tensors.quantization import (
        QuantizationArgs,
        QuantizationConfig,
        QuantizationScheme,
        apply_quantization_config,
    )
    from compressed_tensors.quantization.utils import calculate_qparams
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(tiny_dir(), dtype=torch.float32)
    args = QuantizationArgs(num_bits=BITS, type="int", symmetric=True, strategy="group", group_size=GROUP)
    config = QuantizationConfig(config_groups={"group_0": QuantizationScheme(targets=["Linear"], weights=args)},
                                ignore=["lm_head"], quantization_status="frozen")
    apply_quantization_config(model, config)
    for module in model.modules():
        if hasattr(module, "quantization_scheme") and hasattr(module, "weight_scale"):
            groups = module.weight.data.reshape(module.weight.shape[0], -1, GROUP)
            scale, zero = calculate_qparams(groups.amin(-1), groups.amax(-1), args)
            module.weight_scale.data.copy_(scale.reshape(module.weight_scale.shape))
            module.weight_zero_point.data.copy_(zero.reshape(module.weight_zero_point.shape))
    compressor = ModelCompressor.from_pretrained_model(model, quantization_format="pack-quantized")
    compressor.compress_model(model)
    out = Path(out)
    model.save_pretrained(out)
    compressor.update_config(out)
    copy_tokenizer(out)
    return out
