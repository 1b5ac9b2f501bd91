"""Quantizing through GPTQModel (the GPTQ and AWQ backends), and loading its checkpoints.

``quantize_with_gptqmodel`` (what ``gptq.py`` and ``awq.py`` call):

1. the model to quantize and its tokenizer are saved (safetensors) into a
   temporary folder: GPTQModel quantizes from a model folder and wants the
   tokenizer there;
2. ``GPTQModel.load(folder, QuantizeConfig(bits, group_size, sym, desc_act=False,
   offload_to_disk=False, device))`` (``sym`` for GPTQ, zero points for AWQ) in the quantization dtype,
   ``.quantize(calibration windows, batch_size=1)`` with torch seeded, then
   ``.save(out)``: the quantized checkpoint (packed int32 ``qweight``/``qzeros``,
   16-bit ``scales``, safetensors, ``quantize_config.json``);
3. ``load_checkpoint(reference, out)`` builds the model that is scored. The same
   function reads a quantized-model cache entry, so a cache hit gives the very
   model a fresh quantization gives.

Quantization dtype: the reference's, except for AWQ, whose packed layer accepts
only 16-bit dtypes: bfloat16 for a float32 reference. On CPU the
quantizer runs with ``GPTQMODEL_CPU_WORKERS`` at least 2 (unless set), which
GPTQModel needs to make progress on a 2-core machine.

Loading a checkpoint:

* CUDA: ``GPTQModel.load(out, device, backend=AUTO)``: the library's model with
  its CUDA kernels, in the reference's dtype.
* CPU: GPTQModel's CPU kernels (``TorchLinear``, ``AwqTorchLinear``) accept only
  float16/bfloat16, and AWQ's computes in float16 whatever its input, several
  times slower on CPU than float32. So the checkpoint is loaded by GPTQModel in
  the dtype of its stored scales (no rounding), every quantized layer is
  dequantized by the library's own code, ``w = (q - z) * s`` per group
  (``TorchLinear.dequantize_weight``, AWQ's ``dequantize_gemm``), and written as
  the weight of the ``nn.Linear`` of a copy of the reference, in the reference's
  dtype. Every other tensor of the checkpoint is taken as well (AWQ rescales the
  norms and layers before the ones it quantizes), except that a tensor equal to
  the reference's rounded to the checkpoint's dtype keeps the reference's exact
  value. The model thus multiplies the library's dequantized weights in the
  reference's dtype: the library's torch kernel up to the matmul precision.

``weight_bytes``: the bytes of every tensor in the checkpoint's safetensors files,
as the library stores them (packed weights, scales, zeros, ``g_idx``, and the
unquantized embeddings, norms and ``lm_head``).
"""
from __future__ import annotations

import copy
import os
import tempfile
import time
from pathlib import Path

from pytest_qfacts.errors import RecipeError
from pytest_qfacts.quant.base import QuantResult, Recipe

SEED = 0


def _gptqmodel(backend):
    if "GPTQMODEL_CPU_WORKERS" not in os.environ:  # read when GPTQModel builds its worker pool
        os.environ["GPTQMODEL_CPU_WORKERS"] = str(max(2, ((os.cpu_count() or 1) + 1) // 2))
    from pytest_qfacts.quant.library_support import import_library

    return import_library(backend, "gptqmodel")


def quant_dtype(method: str, model_dtype):
    """The dtype GPTQModel quantizes in: the model's, but 16-bit for AWQ (bfloat16 for a float32 model)."""
    import torch

    if method == "awq" and model_dtype not in (torch.float16, torch.bfloat16):
        return torch.bfloat16
    return model_dtype


def quantize_with_gptqmodel(backend, model, recipe: Recipe, *, method: str, tokenizer, calibration,
                            device: str | None = None) -> QuantResult:
    """Quantize ``model`` with GPTQModel (see the module docstring); the result's model is ``model``
    itself, its weights replaced (CPU), or the library's model (CUDA)."""
    import torch

    from pytest_qfacts.quant.calibration import Calibration
    from pytest_qfacts.quant.library_support import library_version, model_dtype

    gptqmodel = _gptqmodel(backend)
    if tokenizer is None:
        raise RecipeError(f"recipe '{recipe.text}' needs the model's tokenizer (GPTQModel calibrates on text)")
    device = str(device or next(model.parameters()).device)
    calibration = calibration or Calibration()
    max_positions = getattr(model.config, "max_position_embeddings", None)
    windows = calibration.prepare(tokenizer, max_positions)
    dtype = model_dtype(model)
    qdtype = quant_dtype(method, dtype)
    sym = method == "gptq"  # AWQ keeps zero points (asymmetric), as AutoAWQ did
    kernel = _kernel_label(model, device)
    started = time.perf_counter()
    workdir = tempfile.TemporaryDirectory(prefix="qfacts-gptqmodel-")
    src, out = Path(workdir.name) / "source", Path(workdir.name) / "quantized"
    try:
        model.save_pretrained(src, safe_serialization=True)
        tokenizer.save_pretrained(src)
        kwargs = {}
        if method == "awq":
            from gptqmodel.quantization import FORMAT, METHOD

            kwargs = {"quant_method": METHOD.AWQ, "format": FORMAT.GEMM}
        config = gptqmodel.QuantizeConfig(bits=recipe.bits, group_size=recipe.group_size, sym=sym, desc_act=False,
                                          offload_to_disk=False, device=_quant_device(device), **kwargs)
        torch.manual_seed(SEED)
        try:
            gq = gptqmodel.GPTQModel.load(str(src), config, dtype=qdtype, trust_remote_code=False)
            gq.quantize(windows.as_gptqmodel(), batch_size=1, backend=_kernel(gptqmodel, method, device))
            gq.save(str(out))
        except Exception as err:  # an architecture or setting GPTQModel refuses: say which recipe and why
            first = str(err).strip().splitlines()[0] if str(err).strip() else ""
            raise RecipeError(f"recipe '{recipe.text}': GPTQModel {library_version('gptqmodel')} could not quantize "
                              f"this model ({type(err).__name__}: {first})") from err
        del gq
        loaded = load_checkpoint(backend, model, out, device, copy_reference=False)
    except BaseException:
        workdir.cleanup()
        raise
    seconds = time.perf_counter() - started
    layers = quantized_layer_names(out)
    return QuantResult(
        model=loaded, recipe=recipe, library="gptqmodel", library_version=library_version("gptqmodel"),
        bits=recipe.bits, group_size=recipe.group_size, seconds=seconds, weight_bytes=checkpoint_bytes(out),
        details={name: recipe.bits for name in layers},
        info={"method": method, "quant_dtype": str(qdtype).replace("torch.", ""), "sym": sym, "desc_act": False,
              "kernel": kernel, "calibration": windows.describe()},
        files=workdir)


def _quant_device(device: str) -> str:
    return "cpu" if device.startswith("cpu") else device if ":" in device else f"{device}:0"


def _kernel(gptqmodel, method: str, device: str):
    backend = gptqmodel.BACKEND
    if device.startswith("cpu"):
        return backend.AWQ_TORCH if method == "awq" else backend.TORCH
    return backend.AUTO


def uses_kernels(model, device: str) -> bool:
    """True where the library's own kernels run the model: CUDA with a 16-bit model."""
    import torch

    from pytest_qfacts.quant.library_support import model_dtype

    return not device.startswith("cpu") and model_dtype(model) in (torch.float16, torch.bfloat16)


def _kernel_label(model, device: str) -> str:
    if uses_kernels(model, device):
        return "gptqmodel CUDA kernels (BACKEND.AUTO)"
    return "weights dequantized by gptqmodel into nn.Linear"


def load_checkpoint(backend, reference_model, directory: Path, device: str, *, copy_reference: bool = True):
    """The scored model from a GPTQModel checkpoint folder (see the module docstring)."""
    import torch

    from pytest_qfacts.quant.library_support import model_dtype

    gptqmodel = _gptqmodel(backend)
    directory = Path(directory)
    if uses_kernels(reference_model, device):
        q = gptqmodel.GPTQModel.load(str(directory), device=device, dtype=model_dtype(reference_model),
                                     backend=gptqmodel.BACKEND.AUTO, trust_remote_code=False)
        return _ready(q.model)
    method = _checkpoint_method(directory)
    q = gptqmodel.GPTQModel.load(str(directory), device="cpu", dtype=_scales_dtype(directory),
                                 backend=gptqmodel.BACKEND.AWQ_TORCH if method == "awq" else gptqmodel.BACKEND.TORCH,
                                 trust_remote_code=False)
    model = copy.deepcopy(reference_model) if copy_reference else reference_model
    target = model.state_dict()
    quantized = {name: m for name, m in q.model.named_modules() if hasattr(m, "qweight")}
    with torch.no_grad():
        for name, module in quantized.items():
            linear = model.get_submodule(name)
            weight = dequantize(module, method).t()
            if tuple(weight.shape) != tuple(linear.weight.shape):
                raise RecipeError(f"GPTQModel checkpoint {directory}: layer '{name}' dequantizes to "
                                  f"{tuple(weight.shape)}, the model's layer is {tuple(linear.weight.shape)}")
            linear.weight.copy_(weight.to(linear.weight.dtype))
        skip = tuple(f"{name}." for name in quantized)
        for key, value in q.model.state_dict().items():
            if key.startswith(skip) or key not in target or not value.is_floating_point():
                continue
            mine = target[key]
            if mine.shape != value.shape:
                raise RecipeError(f"GPTQModel checkpoint {directory}: tensor '{key}' has shape {tuple(value.shape)}, "
                                  f"the model's has {tuple(mine.shape)}")
            if not torch.equal(mine.to(value.dtype), value):
                mine.copy_(value.to(mine.dtype))
    del q
    return _ready(model)


def save_checkpoint(result: QuantResult, directory) -> bool:
    """Copy the checkpoint GPTQModel wrote while quantizing into ``directory`` (a cache entry)."""
    import shutil

    workdir = result.files
    source = Path(getattr(workdir, "name", workdir) or "") / "quantized"
    if workdir is None or not (source / "quantize_config.json").is_file():
        return False
    for file in sorted(source.iterdir()):
        if file.is_file() and file.suffix in (".json", ".safetensors", ".txt", ".model", ".jinja"):
            shutil.copy2(file, Path(directory) / file.name)
    return True


def _ready(model):
    model.eval()
    model.requires_grad_(False)
    return model


def dequantize(module, method: str):
    """The dense ``[in_features, out_features]`` weight of one GPTQModel layer, by the library's own code."""
    if method == "awq":
        from gptqmodel.quantization.awq.utils.packing_utils import dequantize_gemm

        return dequantize_gemm(qweight=module.qweight, qzeros=module.qzeros, scales=module.scales,
                               bits=module.bits, group_size=module.group_size)
    # the class's method: GPTQModel wraps the instance's in torch.compile, which would compile for one call
    return type(module).dequantize_weight(module, num_itr=1)


def _checkpoint_config(directory: Path) -> dict:
    import json

    path = Path(directory) / "quantize_config.json"
    if not path.is_file():
        raise RecipeError(f"{directory}: not a GPTQModel checkpoint (no quantize_config.json)")
    return json.loads(path.read_text(encoding="utf-8"))


def _checkpoint_method(directory: Path) -> str:
    config = _checkpoint_config(directory)
    return str(config.get("quant_method", config.get("method", "gptq"))).lower()


def _safetensors_files(directory: Path) -> list[Path]:
    files = sorted(Path(directory).glob("*.safetensors"))
    if not files:
        raise RecipeError(f"{directory}: no .safetensors file in the GPTQModel checkpoint")
    return files


def _scales_dtype(directory: Path):
    import torch
    from safetensors import safe_open

    for file in _safetensors_files(directory):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118 -- a safe_open handle has keys() but is not iterable
                if key.endswith(".scales"):
                    return {"F16": torch.float16, "BF16": torch.bfloat16}.get(f.get_slice(key).get_dtype(), torch.float16)
    return torch.float16


def quantized_layer_names(directory: Path) -> list[str]:
    from safetensors import safe_open

    names = []
    for file in _safetensors_files(directory):
        with safe_open(str(file), "pt") as f:
            names += [k[: -len(".qweight")] for k in f.keys() if k.endswith(".qweight")]  # noqa: SIM118 -- safe_open is not iterable
    return sorted(names)


_DTYPE_BYTES = {"F64": 8, "I64": 8, "U64": 8, "F32": 4, "I32": 4, "U32": 4, "F16": 2, "BF16": 2, "I16": 2,
                "U16": 2, "F8_E4M3": 1, "F8_E5M2": 1, "I8": 1, "U8": 1, "BOOL": 1}


def checkpoint_bytes(directory: Path) -> int:
    """Bytes of every tensor stored in the checkpoint's safetensors files (from their headers)."""
    import math

    from safetensors import safe_open

    total = 0
    for file in _safetensors_files(directory):
        with safe_open(str(file), "pt") as f:
            for key in f.keys():  # noqa: SIM118 -- a safe_open handle has keys() but is not iterable
                s = f.get_slice(key)
                total += math.prod(s.get_shape()) * _DTYPE_BYTES[s.get_dtype()]
    return total
