"""Stored reference baselines: everything a comparison needs from the full-precision model.

One file per (model, suite): ``<dir>/<model>/<suite>-<hash12>.safetensors`` (default dir
``.qfacts/baselines/``, meant to be committed). Arrays live in the safetensors body; the
key and the rest (top-k token strings, how each array is encoded) in its JSON metadata.
Nothing is read with pickle.

The key (``BaselineKey``) is what makes stored numbers valid for a run: the model's
weights fingerprint, the suite's content hash, the probes recorded (a superset of those
asked for is fine), the lens fact count, dtype, device type, and the versions of the
libraries that change numbers (torch, transformers). A file whose key does not match is
refused with the differences named; a truncated or corrupt file gets a clear error.

Encoding (sizes for SmolLM2-135M, L=30, H=576, D=1536, are in docs/baselines.md):
  scores   per-fact ranks, log-probs, top-k ids and log-probs        as computed
  lens     per-layer gold prob and rank [L, N]                        as computed
  resid_last, resid_subj [L, N, H]   truncated SVD per layer, CKA error <= 0.01 (store.compress),
                                     without its basis unless svd is recorded
  mlp_out_subj [L, N, H]             float16 (compared per fact by cosine; relative error ~1e-3)
  gate_sign_subj [L, N, D] int8                     two bit planes (lossless)
  inter_top_subj [L, N, k]                          int16 when D < 32768 (lossless)
  attn_subj {layer: {fact: [heads, keys]}}          concatenated per layer with offsets
  anything else                                     as computed
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.store import compress as cmp

FORMAT = 1
DEFAULT_DIR = ".qfacts/baselines"
COMPRESSED = ("resid_last", "resid_subj")   # compared by CKA (and svd); the rest by cosines or exactly
HALF = ("mlp_out_subj",)                     # compared per fact by cosine: float16, relative error ~1e-3


class BaselineError(QFactsUsageError):
    """A stored baseline that cannot be used (mismatched key, corrupt file)."""


@dataclass(frozen=True)
class BaselineKey:
    model: str
    fingerprint: str
    suite: str
    suite_hash: str
    probes: tuple[str, ...]
    lens_facts: int
    dtype: str
    device_type: str
    versions: dict = field(default_factory=dict, hash=False)

    def to_json(self) -> dict:
        d = asdict(self)
        d["probes"] = sorted(self.probes)
        return d

    @classmethod
    def from_json(cls, d: dict) -> "BaselineKey":
        d = dict(d)
        d["probes"] = tuple(d.get("probes", ()))
        return cls(**d)

    def differences(self, stored: "BaselineKey") -> list[str]:
        """What in ``stored`` does not serve this (wanted) key; empty when it does."""
        out = []
        for name in ("fingerprint", "suite_hash", "dtype", "device_type"):
            if getattr(stored, name) != getattr(self, name):
                out.append(f"{name.replace('_', ' ')}: stored {getattr(stored, name)!r}, this run {getattr(self, name)!r}")
        missing = sorted(set(self.probes) - set(stored.probes))
        if missing:
            out.append(f"probes: stored {','.join(sorted(stored.probes)) or 'none'}, this run also needs {','.join(missing)}")
        if "lens" in self.probes and stored.lens_facts != self.lens_facts:
            out.append(f"lens facts: stored {stored.lens_facts}, this run {self.lens_facts}")
        for lib in sorted(set(self.versions) | set(stored.versions)):
            if stored.versions.get(lib) != self.versions.get(lib):
                out.append(f"{lib} version: stored {stored.versions.get(lib)}, this run {self.versions.get(lib)}")
        return out


def library_versions() -> dict:
    """Versions of the libraries whose changes move the numbers."""
    import torch
    import transformers

    return {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__, "format": str(FORMAT)}


@dataclass
class Baseline:
    key: BaselineKey
    path: Path
    scores: object            # FactScores
    trace: object | None      # Trace
    lens: tuple | None        # (prob [L, N], rank [L, N])
    meta: dict


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "model"


def model_folder(root: str | Path, model: str) -> Path:
    """Where the baselines of ``model`` (its label) live under ``root``."""
    return Path(root) / _slug(model)


def baseline_path(root: str | Path, key: BaselineKey) -> Path:
    return model_folder(root, key.model) / f"{_slug(key.suite)}-{key.suite_hash[:12]}.safetensors"


def lock_for(path: Path):
    """A lock for ``path`` kept outside the (committed) baseline folder."""
    from filelock import FileLock

    digest = hashlib.sha256(str(Path(path).resolve()).encode()).hexdigest()[:24]
    folder = Path(tempfile.gettempdir()) / "pytest-qfacts-locks"
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / f"{digest}.lock"))


# -- encoding ------------------------------------------------------------------------
def _encode_trace(trace, max_cka_error: float, probes=()) -> tuple[dict, dict]:
    arrays, layout = {}, {}
    for name, value in vars(trace).items():
        if name == "attn_subj":
            for layer, store in value.items():
                idx = np.array(sorted(store), np.int32)
                lens = np.array([store[i].shape[1] for i in idx], np.int32)
                arrays[f"trace.attn_subj.{layer}.index"] = idx
                arrays[f"trace.attn_subj.{layer}.len"] = lens
                arrays[f"trace.attn_subj.{layer}.data"] = np.ascontiguousarray(
                    np.concatenate([store[i] for i in idx], axis=1).astype(np.float32))
            layout["attn_subj"] = sorted(int(k) for k in value)
            continue
        if not isinstance(value, np.ndarray):
            continue
        if name in COMPRESSED:
            # the residual stream is compared coordinate-wise only by the svd probe; CKA needs no basis
            parts, meta = cmp.compress(value, max_cka_error, keep_basis="svd" in probes)
            arrays.update({f"trace.{name}.{k}": v for k, v in parts.items()})
            layout[name] = {"encoding": "svd", **meta}
        elif name in HALF:
            arrays[f"trace.{name}"] = np.ascontiguousarray(value.astype(np.float16))
            layout[name] = {"encoding": "float16"}
        elif name == "gate_sign_subj":
            arrays.update({f"trace.{name}.{k}": v for k, v in cmp.pack_signs(value).items()})
            layout[name] = {"encoding": "signs", "shape": list(value.shape)}
        elif name == "inter_top_subj" and value.size and value.max() < 32768:
            arrays[f"trace.{name}"] = value.astype(np.int16)
            layout[name] = {"encoding": "int16", "dtype": str(value.dtype)}
        else:
            arrays[f"trace.{name}"] = np.ascontiguousarray(value)
            layout[name] = {"encoding": "raw"}
    return arrays, layout


def _decode_trace(arrays: dict, layout: dict):
    from pytest_qfacts.trace.tracer import Trace

    trace = Trace()
    for name, spec in layout.items():
        if name == "attn_subj":
            for layer in spec:
                idx = arrays[f"trace.attn_subj.{layer}.index"]
                lens = arrays[f"trace.attn_subj.{layer}.len"]
                data = arrays[f"trace.attn_subj.{layer}.data"]
                ends = np.cumsum(lens)
                trace.attn_subj[int(layer)] = {int(i): data[:, e - n: e] for i, n, e in zip(idx, lens, ends)}
            continue
        enc = spec["encoding"]
        if enc == "svd":
            prefix = f"trace.{name}."
            value = cmp.decompress({k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}, spec["shape"])
        elif enc == "signs":
            value = cmp.unpack_signs({k: arrays[f"trace.{name}.{k}"] for k in ("pos", "neg")}, spec["shape"])
        elif enc == "float16":
            value = arrays[f"trace.{name}"].astype(np.float32)
        elif enc == "int16":
            value = arrays[f"trace.{name}"].astype(spec["dtype"])
        else:
            value = arrays[f"trace.{name}"]
        setattr(trace, name, value)
    return trace


# -- the store --------------------------------------------------------------------------
class BaselineStore:
    """Read and write baselines under ``root``."""

    def __init__(self, root: str | Path, max_cka_error: float = cmp.DEFAULT_MAX_CKA_ERROR):
        self.root = Path(root)
        self.max_cka_error = max_cka_error

    def path(self, key: BaselineKey) -> Path:
        return baseline_path(self.root, key)

    def write(self, key: BaselineKey, scores, trace=None, lens=None, *, run_id: str = "") -> Path:
        """Write atomically (temporary file in the same folder, then rename). Call under ``lock_for(path)``."""
        from safetensors.numpy import save_file

        path = self.path(key)
        arrays = {f"scores.{k}": np.ascontiguousarray(v) for k, v in scores.arrays().items()}
        layout = {}
        if trace is not None:
            t_arrays, layout = _encode_trace(trace, self.max_cka_error, key.probes)
            arrays.update(t_arrays)
        if lens is not None:
            arrays["lens.prob"] = np.ascontiguousarray(lens[0])
            arrays["lens.rank"] = np.ascontiguousarray(lens[1])
        meta = {"qfacts_baseline": FORMAT, "key": key.to_json(), "trace": layout if trace is not None else None,
                "topk_tokens": scores.topk_tokens, "n_facts": len(scores), "run_id": run_id}
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
        os.close(fd)
        try:
            save_file(arrays, tmp, metadata={"qfacts": json.dumps(meta, ensure_ascii=False)})
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; a committed file should not be
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    def read_meta(self, path: Path) -> dict:
        from safetensors import safe_open

        try:
            with safe_open(str(path), framework="numpy") as f:
                raw = (f.metadata() or {}).get("qfacts")
            meta = json.loads(raw) if raw else None
        except Exception as err:  # safetensors raises its own error types for short/garbled files
            raise BaselineError(f"baseline {path} is corrupt or truncated ({err}); delete it and re-create it with "
                                f"--qfacts-update-baseline") from None
        if not isinstance(meta, dict) or meta.get("qfacts_baseline") != FORMAT or "key" not in meta:
            raise BaselineError(f"{path} is not a qfacts baseline of format {FORMAT}; re-create it with --qfacts-update-baseline")
        return meta

    def load(self, key: BaselineKey) -> Baseline | None:
        """The stored baseline for ``key``; None when there is none; BaselineError when it cannot serve."""
        path = self.path(key)
        if not path.exists():
            return None
        meta = self.read_meta(path)
        stored = BaselineKey.from_json(meta["key"])
        diffs = key.differences(stored)
        if diffs:
            raise BaselineError(f"baseline {path} does not match this run: " + "; ".join(diffs)
                                + ". Re-create it with --qfacts-update-baseline (or `qfacts baseline`).")
        return self._read(path, key, meta)

    def _read(self, path: Path, key: BaselineKey, meta: dict) -> Baseline:
        from safetensors.numpy import load_file

        from pytest_qfacts.scoring.results import FactScores

        try:
            arrays = load_file(str(path))
            scores = FactScores(**{k[len("scores."):]: v for k, v in arrays.items() if k.startswith("scores.")},
                                topk_tokens=meta["topk_tokens"])
            trace = _decode_trace(arrays, meta["trace"]) if meta.get("trace") is not None else None
            lens = (arrays["lens.prob"], arrays["lens.rank"]) if "lens.prob" in arrays else None
        except Exception as err:
            raise BaselineError(f"baseline {path} is corrupt or truncated ({type(err).__name__}: {err}); delete it and "
                                f"re-create it with --qfacts-update-baseline") from None
        if len(scores) != meta.get("n_facts"):
            raise BaselineError(f"baseline {path} is corrupt: {len(scores)} facts stored, metadata says {meta.get('n_facts')}")
        return Baseline(key, path, scores, trace, lens, meta)
