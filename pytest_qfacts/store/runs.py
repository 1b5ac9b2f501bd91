"""Run records on disk: one ``ModelRun`` per file, safetensors arrays plus a JSON header. Never pickle.

Format ``qfacts_run`` = ``RECORD_FORMAT`` (docs/run-records.md). The header (safetensors metadata
key ``qfacts``) holds ``info`` (``RunInfo``), ``items`` (the prompts), ``topk_tokens``, ``meta`` and
``encodings`` (how each array is stored); the body holds the arrays:

  ``scores.<field>``          ``FactScores`` arrays, as computed
  ``<name>`` / ``<name>.<part>``   probe arrays, stored as the recording probe declares
                              (``probes/<name>.py``: ``storage``):
      raw        as computed
      float16    half precision (compared per fact by cosine; relative error ~1e-3)
      svd        truncated SVD per layer whose CKA error is <= ``max_cka_error``
                 (``store/compress.py``); the basis is kept only when ``svd`` is recorded
      signs      two bit planes (lossless, int8 signs)
      int16      when every value is below 2**15 (lossless)

A truncated, garbled or foreign file raises ``RunRecordError`` naming the file and what to do.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.record.model_run import RECORD_FORMAT, ModelRun, RunInfo, item_from_json, item_to_json
from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.store import compress as cmp

HEADER_KEY = "qfacts"
RUN_SUFFIX = ".qfacts-run.safetensors"
INT16_LIMIT = 2 ** 15


class RunRecordError(QFactsUsageError):
    """A stored run record that cannot be read (truncated, corrupt, foreign, another format)."""


def _encoding(run: ModelRun, name: str) -> str:
    from pytest_qfacts.probes.registry import get_probe

    for probe_name in run.info.probes:
        enc = get_probe(probe_name).encoding_of(name)
        if enc is not None:
            return enc
    return "raw"


def _encode(run: ModelRun, max_cka_error: float) -> tuple[dict, dict]:
    arrays = {f"scores.{k}": np.ascontiguousarray(v) for k, v in run.scores.arrays().items()}
    encodings: dict = {}
    for name, value in run.arrays.items():
        enc = _encoding(run, name)
        if enc == "svd":
            parts, meta = cmp.compress(value, max_cka_error, keep_basis="svd" in run.info.probes)
            arrays.update({f"{name}.{k}": v for k, v in parts.items()})
            encodings[name] = {"encoding": "svd", **meta}
        elif enc == "float16":
            arrays[name] = np.ascontiguousarray(value.astype(np.float16))
            encodings[name] = {"encoding": "float16", "dtype": str(value.dtype)}
        elif enc == "signs":
            arrays.update({f"{name}.{k}": v for k, v in cmp.pack_signs(value).items()})
            encodings[name] = {"encoding": "signs", "shape": list(value.shape)}
        elif enc == "int16" and (not value.size or value.max() < INT16_LIMIT):
            arrays[name] = value.astype(np.int16)
            encodings[name] = {"encoding": "int16", "dtype": str(value.dtype)}
        else:
            arrays[name] = np.ascontiguousarray(value)
            encodings[name] = {"encoding": "raw"}
    return arrays, encodings


def _decode(stored: dict, encodings: dict) -> dict:
    out = {}
    for name, spec in encodings.items():
        enc = spec["encoding"]
        if enc == "svd":
            prefix = f"{name}."
            out[name] = cmp.decompress({k[len(prefix):]: v for k, v in stored.items() if k.startswith(prefix)}, spec["shape"])
        elif enc == "signs":
            out[name] = cmp.unpack_signs({k: stored[f"{name}.{k}"] for k in ("pos", "neg")}, spec["shape"])
        elif enc in ("float16", "int16"):
            out[name] = stored[name].astype(spec["dtype"])
        else:
            out[name] = stored[name]
    return out


def write_run(path: str | Path, run: ModelRun, *, max_cka_error: float = cmp.DEFAULT_MAX_CKA_ERROR) -> Path:
    """Write ``run`` to ``path`` atomically (``atomic.py``); returns the path."""
    from safetensors.numpy import save_file

    from pytest_qfacts.atomic import atomic_write

    path = Path(path)
    arrays, encodings = _encode(run, max_cka_error)
    header = {"qfacts_run": RECORD_FORMAT, "info": run.info.to_json(), "items": [item_to_json(i) for i in run.items],
              "topk_tokens": run.scores.topk_tokens, "meta": run.meta, "encodings": encodings}
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, lambda tmp: save_file(arrays, str(tmp), metadata={HEADER_KEY: json.dumps(header, ensure_ascii=False)}))
    return path


def _corrupt(path, detail: str) -> RunRecordError:
    return RunRecordError(f"run record {path} is corrupt or truncated ({detail}); delete it and measure again "
                          "(a baseline: --qfacts-update-baseline or `qfacts baseline`)")


def read_header(path: str | Path) -> dict:
    """The JSON header of a run record (cheap: no arrays are read)."""
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            raw = (f.metadata() or {}).get(HEADER_KEY)
        header = json.loads(raw) if raw else None
    except Exception as err:  # safetensors raises its own error types for short or garbled files
        raise _corrupt(path, f"{type(err).__name__}: {err}") from None
    if not isinstance(header, dict) or "qfacts_run" not in header:
        raise RunRecordError(f"{path} is not a qfacts run record (no '{HEADER_KEY}' header with 'qfacts_run'); "
                             "measure it again")
    if header["qfacts_run"] != RECORD_FORMAT:
        raise RunRecordError(f"{path} is a run record of format {header['qfacts_run']}; this pytest-qfacts reads "
                             f"format {RECORD_FORMAT}: measure it again")
    try:
        RunInfo.from_json(header["info"])
    except (KeyError, TypeError, ValueError) as err:
        raise _corrupt(path, f"its header lacks or garbles {err}") from None
    return header


def read_run(path: str | Path) -> ModelRun:
    """The ``ModelRun`` stored at ``path``; ``RunRecordError`` when it cannot be read."""
    from safetensors.numpy import load_file

    header = read_header(path)
    try:
        stored = load_file(str(path))
        scores = FactScores(**{k[len("scores."):]: v for k, v in stored.items() if k.startswith("scores.")},
                            topk_tokens=header["topk_tokens"])
        run = ModelRun(RunInfo.from_json(header["info"]), [item_from_json(i) for i in header["items"]], scores,
                       _decode(stored, header["encodings"]), header.get("meta") or {})
    except RunRecordError:
        raise
    except Exception as err:
        raise _corrupt(path, f"{type(err).__name__}: {err}") from None
    if len(run.scores) != len(run.items):
        raise _corrupt(path, f"{len(run.scores)} scored prompts, {len(run.items)} items")
    return run


def slug(text: str) -> str:
    """``text`` made safe as a file name: runs of other characters than letters, digits, ``._-`` become ``_``."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def run_file_name(info: RunInfo) -> str:
    """``<model>__<suite>-<hash12>__<recipe or reference>.qfacts-run.safetensors`` (filesystem-safe)."""
    return f"{slug(info.model)}__{slug(info.suite)}-{info.suite_hash[:12]}__{slug(info.role)}{RUN_SUFFIX}"


def list_runs(folder: str | Path) -> list[Path]:
    """The run records in ``folder`` (sorted)."""
    return sorted(Path(folder).glob(f"*{RUN_SUFFIX}"))
