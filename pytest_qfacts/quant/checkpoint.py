"""Pre-quantized checkpoints: recipe ``ckpt:PATH_OR_HF_ID``.

Nothing is quantized here: the model is loaded from a local directory or a
Hugging Face id whose ``config.json`` carries a ``quantization_config`` saying
how it was quantized, and is compared with the reference (``--qfacts-model``)
like any other recipe. Supported methods and what loading them needs:

====================  ==========================  ===============================
``quant_method``      libraries                   install
====================  ==========================  ===============================
``gptq``              gptqmodel, optimum          ``pytest-qfacts[gptq]``
``awq``               gptqmodel                   ``pytest-qfacts[awq]``
``bitsandbytes``      bitsandbytes, accelerate    ``pytest-qfacts[bnb]``
``compressed-tensors``  compressed-tensors        ``pytest-qfacts[compressed-tensors]``
(none)                                            a dense (e.g. fake-quantized) checkpoint
====================  ==========================  ===============================

Any other method is refused with its name and the list above; a missing library
raises ``BackendUnavailable`` (a skip, or an error under ``--qfacts-strict``).

Loading: through transformers (``from_pretrained`` on the reference's device, in
its dtype), except GPTQ and AWQ checkpoints, which are read exactly as the
``gptq-*``/``awq-*`` recipes read their own (``gptqmodel_io.load_checkpoint``:
GPTQModel's CUDA kernels on CUDA; on CPU the library dequantizes each layer into
a copy of the reference, multiplied in the reference's dtype). transformers' own
GPTQ path on CPU multiplies in float16 (tiny-facts logits off by up to 0.06 from
the dequantized weights', and float16 is several times slower on CPU).

The facts are scored with the reference's tokenizer, so the checkpoint must
share its vocabulary: when the checkpoint has a tokenizer its vocabulary must
equal the reference's, and its ``vocab_size`` must equal the reference's.
The model loads on the reference's device in the reference's dtype.

Metadata: ``bits`` and ``group_size`` from the quantization config (GPTQ/AWQ
``bits``/``group_size``; bitsandbytes 8, or 4 with bitsandbytes' blocks of 64;
compressed-tensors ``num_bits``/``group_size`` of its weight scheme, when all
groups agree); ``library`` is the library that runs the method; ``seconds`` is
the loading time, unpacking included (below); ``weight_bytes`` the bytes the loaded
weights take (``stored_bytes``, before any forward; GPTQ/AWQ: the bytes of the tensors
in the checkpoint's safetensors files).

Unpacking: some formats load packed and unpack at the model's first forward
(compressed-tensors' pack-quantized W4A16: transformers keeps ``weight_packed`` and
``weight_scale``, no ``weight``, and a hook decompresses every layer when the model first
runs). A checkpoint loaded through transformers therefore runs one forward of
``WARMUP_TOKENS`` token inside the timed load, so that the reported seconds include the
unpacking and every probe then reads the unpacked layers like any other; the footprint
is measured before it.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from pytest_qfacts.errors import RecipeError, describe_exception
from pytest_qfacts.models.hub import hub_offline
from pytest_qfacts.quant.base import BackendUnavailable, QuantBackend, QuantResult, Recipe, _importable
from pytest_qfacts.quant.footprint import stored_bytes
from pytest_qfacts.quant.library_support import drop_log_records, library_version, model_dtype

WARMUP_TOKENS = 1  # the length of the forward that unpacks lazily unpacked layers inside the timed load

GRAMMAR = "ckpt:PATH_OR_HF_ID  (a pre-quantized checkpoint: gptq, awq, bitsandbytes, compressed-tensors)"

#: quant_method -> (import names, distribution whose version is reported, extra)
METHODS: dict[str, tuple[tuple[str, ...], str, str]] = {
    "gptq": (("gptqmodel", "optimum"), "gptqmodel", "gptq"),
    "awq": (("gptqmodel",), "gptqmodel", "awq"),
    "bitsandbytes": (("bitsandbytes", "accelerate"), "bitsandbytes", "bnb"),
    "compressed-tensors": (("compressed_tensors",), "compressed-tensors", "compressed-tensors"),
}


class CheckpointBackend(QuantBackend):
    name = "ckpt"
    grammar = GRAMMAR
    library = "transformers"
    install_hint = 'pip install "pytest-qfacts[gptq]" / "[awq]" / "[bnb]" / "[compressed-tensors]" (per checkpoint)'
    requires = ("transformers",)
    examples = ()  # a checkpoint is the user's own: no example a table or a hint could run
    cacheable = False       # already on disk
    uses_reference = False  # loads its own model; the reference is only read (dtype, vocabulary)

    def owns(self, text: str) -> bool:
        return text.strip().lower().startswith("ckpt:")

    def parse(self, text: str) -> Recipe | None:
        if not self.owns(text):
            return None
        target = text.strip()[len("ckpt:"):].strip()
        if not target:
            raise RecipeError(f"recipe '{text.strip()}' names no checkpoint; accepted: {GRAMMAR}, "
                              f"e.g. ckpt:/models/llama-gptq or ckpt:TheBloke/Llama-2-7B-GPTQ")
        return Recipe(text=f"ckpt:{target}", backend=self.name, options={"target": target})

    def quantize(self, model, recipe: Recipe, *, tokenizer=None, calibration=None, device=None) -> QuantResult:
        target = recipe.options["target"]
        device = str(device or next(model.parameters()).device)
        source, config = _read_config(target, recipe.text)
        qc = config.get("quantization_config") or {}
        method = str(qc.get("quant_method", "none")).lower() if qc else "none"
        if method != "none" and method not in METHODS:
            raise RecipeError(f"recipe '{recipe.text}': the checkpoint is quantized with method '{method}' "
                              f"(quantization_config.quant_method in {source}), which pytest-qfacts does not load; "
                              f"supported: {', '.join(METHODS)}, or a checkpoint without quantization_config")
        if method in METHODS:
            modules, _, extra = METHODS[method]
            missing = [m for m in modules if not _importable(m)]
            if missing:
                raise BackendUnavailable(f"checkpoint '{target}' is quantized with '{method}', which needs "
                                         f"{', '.join(missing)} (not installed); install with: "
                                         f'pip install "pytest-qfacts[{extra}]"')
        _check_vocabulary(model, tokenizer, config, target, source, recipe.text)
        if method == "bitsandbytes":
            drop_log_records("bitsandbytes.autograd._functions", "MatMul8bitLt: inputs will be cast from")
        start = time.perf_counter()
        if method in ("gptq", "awq"):
            loaded, weight_bytes = _load_gptqmodel(self, target, model, device, recipe.text)
        else:
            loaded = _load(target, model_dtype(model), device, recipe.text, method)
            weight_bytes = stored_bytes(loaded, extra=_state_tensors)
            _unpack(loaded, model, device, recipe.text)
        seconds = time.perf_counter() - start
        bits, group = _bits_and_group(method, qc)
        library = METHODS[method][1] if method in METHODS else "transformers"
        info = {"checkpoint": target, "method": method}
        if method == "compressed-tensors" and qc.get("format"):
            info["format"] = qc["format"]
        return QuantResult(model=loaded, recipe=recipe, library=library, library_version=library_version(library),
                           bits=bits, group_size=group, seconds=seconds, weight_bytes=weight_bytes, info=info)


def _read_config(target: str, recipe: str) -> tuple[str, dict]:
    """(where the config came from, its dict): a local directory's config.json, else a hub id's."""
    path = Path(target).expanduser()
    if path.is_dir():
        config_file = path / "config.json"
        if not config_file.is_file():
            raise RecipeError(f"recipe '{recipe}': directory {path} has no config.json; point ckpt: at a "
                              f"directory written by save_pretrained (config.json + weights)")
        try:
            return str(config_file), json.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise RecipeError(f"recipe '{recipe}': cannot read {config_file}: {err}") from None
    if path.exists() or target.startswith((".", "/", "~")) or target.count("/") > 1:
        raise RecipeError(f"recipe '{recipe}': no checkpoint directory at {path}; accepted: {GRAMMAR}")
    from transformers import AutoConfig

    try:
        try:
            config = AutoConfig.from_pretrained(target, local_files_only=True)
        except OSError:
            if hub_offline():
                raise
            config = AutoConfig.from_pretrained(target)
    except Exception as err:
        raise RecipeError(f"recipe '{recipe}': '{target}' is neither a local directory nor a Hugging Face model "
                          f"that could be found ({type(err).__name__}); fetch it with: hf download {target}") from None
    return f"{target} (config.json)", config.to_dict()


def _check_vocabulary(model, tokenizer, config: dict, target: str, source: str, recipe: str) -> None:
    ref_size = getattr(getattr(model, "config", None), "vocab_size", None)
    size = config.get("vocab_size", config.get("text_config", {}).get("vocab_size"))
    if ref_size is not None and size is not None and int(size) != int(ref_size):
        raise RecipeError(f"recipe '{recipe}': the checkpoint's vocab_size is {size} ({source}) but the reference "
                          f"model's is {ref_size}; a checkpoint must share the reference's tokenizer")
    path = Path(target).expanduser()
    has_tokenizer = path.is_dir() and any((path / f).is_file() for f in ("tokenizer.json", "tokenizer_config.json"))
    if tokenizer is None or not has_tokenizer:
        return
    from transformers import AutoTokenizer

    theirs = AutoTokenizer.from_pretrained(path)
    if theirs.get_vocab() != tokenizer.get_vocab():
        raise RecipeError(f"recipe '{recipe}': the tokenizer in {path} has a different vocabulary from the reference "
                          f"model's; facts are scored with the reference's tokenizer, so the checkpoint must share it")


def _load(target: str, dtype, device: str, recipe: str, method: str):
    from transformers import AutoModelForCausalLM

    path = Path(target).expanduser()
    where = str(path) if path.is_dir() else target
    kwargs = dict(dtype=dtype, device_map={"": device})
    try:
        if path.is_dir():
            model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
        else:
            try:
                model = AutoModelForCausalLM.from_pretrained(where, local_files_only=True, **kwargs)
            except OSError:
                if hub_offline():
                    raise
                model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except ImportError as err:
        raise BackendUnavailable(f"loading '{where}' ({method}) failed: {err}") from err
    except Exception as err:
        raise RecipeError(f"recipe '{recipe}': loading the {method} checkpoint '{where}' on {device} failed "
                          f"({describe_exception(err)})") from err
    for module in model.modules():  # bitsandbytes 4-bit on CPU: the portable path (see quant/bnb.py)
        if hasattr(module, "support_avx512bf16_for_cpu"):
            # torch's stubs type any unknown Module attribute as Tensor | Module (Module.__getattr__)
            module.support_avx512bf16_for_cpu = False  # type: ignore[assignment]
    model.eval()
    model.requires_grad_(False)
    return model


def _unpack(model, reference, device: str, recipe: str) -> None:
    """One forward of ``WARMUP_TOKENS`` token (the reference's BOS, else id 0): layers that unpack at the
    first forward (compressed-tensors pack-quantized) unpack now, inside the timed load."""
    import torch

    token = getattr(getattr(reference, "config", None), "bos_token_id", None)
    ids = torch.full((1, WARMUP_TOKENS), int(token) if isinstance(token, int) else 0, dtype=torch.long, device=device)
    try:
        with torch.no_grad():
            model(input_ids=ids)
    except Exception as err:
        raise RecipeError(f"recipe '{recipe}': the checkpoint loaded, but its first forward on {device} (which "
                          f"unpacks packed layers) failed ({describe_exception(err)})") from err


def _load_gptqmodel(backend, target: str, reference_model, device: str, recipe: str):
    """A GPTQ/AWQ checkpoint read as the gptq/awq recipes read their own (``gptqmodel_io.load_checkpoint``),
    and the bytes of its safetensors tensors."""
    from pytest_qfacts.quant.gptqmodel_io import checkpoint_bytes, load_checkpoint

    directory = _local_directory(target, recipe)
    try:
        model = load_checkpoint(backend, reference_model, directory, device, copy_reference=True)
    except (RecipeError, ImportError):
        raise
    except Exception as err:
        raise RecipeError(f"recipe '{recipe}': GPTQModel could not load the checkpoint {directory} on {device} "
                          f"({describe_exception(err)})") from err
    return model, checkpoint_bytes(directory)


def _local_directory(target: str, recipe: str) -> Path:
    """The checkpoint's folder: ``target`` itself, or a hub id's snapshot in the Hugging Face cache."""
    path = Path(target).expanduser()
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    try:
        try:
            return Path(snapshot_download(target, local_files_only=True))
        except Exception:
            if hub_offline():
                raise
            return Path(snapshot_download(target))
    except Exception as err:
        raise RecipeError(f"recipe '{recipe}': the files of '{target}' are not in the Hugging Face cache and could "
                          f"not be downloaded ({type(err).__name__}); fetch them with: hf download {target}") from None


def _bits_and_group(method: str, qc: dict) -> tuple[int | None, int | None]:
    if method in ("gptq", "awq"):
        bits = qc.get("bits", qc.get("w_bit"))
        group = qc.get("group_size", qc.get("q_group_size"))
        return (int(bits) if bits is not None else None), (int(group) if group and int(group) > 0 else None)
    if method == "bitsandbytes":
        if qc.get("load_in_4bit") or qc.get("_load_in_4bit"):
            return 4, 64
        return 8, None
    if method == "compressed-tensors":
        schemes = [g.get("weights") or {} for g in (qc.get("config_groups") or {}).values()]
        bits = {s.get("num_bits") for s in schemes}
        groups = {s.get("group_size") for s in schemes}
        return (bits.pop() if len(bits) == 1 else None), (groups.pop() if len(groups) == 1 else None)
    return None, None


def _state_tensors(module):
    from pytest_qfacts.quant.bnb import _bnb_state_tensors

    return _bnb_state_tensors(module)
