"""The on-disk cache of quantized models: ``<cache-dir>/quantized/<key>/``.

A second run with the same model, recipe and libraries loads the quantized model
instead of quantizing again. ``--qfacts-no-cache`` turns the cache off; backends
with ``cacheable = False`` (quanto) are never cached.

**Key** (``cache_key``): the JSON of
``{"format", "model": reference fingerprint, "dtype", "device": device type,
"recipe": canonical recipe, "calibration": calibration digest (backends that
calibrate) or null, "versions": {torch, transformers, pytest-qfacts, the backend's
library}}``; the folder name is the first 24 hex digits of its sha256. Any change
of any part (another revision or weights, dtype, recipe, calibration text or
setting, library version) is another folder: a stale entry is never read.

**Entry**: what the backend's ``save(result, folder, reference)`` writes (the
default: the state-dict tensors that differ from the reference, as
``tensors.safetensors``; GPTQ/AWQ: GPTQModel's checkpoint folder), plus
``entry.json``: the full key, the quantization result (library, versions, bits,
group size, seconds to quantize, bytes of weights, details), and every file's
size and sha256.

**Reading** uses an entry only when ``entry.json`` parses, its key equals the
wanted key, and every listed file has its size and sha256; otherwise (truncated,
corrupt, half-deleted) the entry is removed and the model quantized again, with a
progress line saying why. **Writing** is atomic (``atomic.atomic_write_dir``):
the backend saves into a staging folder in ``<root>/.qfacts-tmp/``, ``entry.json`` is
written last, and the folder is renamed into place, so a reader sees a whole entry or
none. Quantizing and writing happen under a named lock (``<root>/.qfacts-tmp/<key
digest>.lock``, removed on release): of two processes asking for the same entry
(pytest-xdist workers), one quantizes and the other waits, then reads. What a killed
process leaves there is swept by the next write (``atomic.sweep_stale``).
Safe formats only: safetensors and JSON.
"""
from __future__ import annotations

import copy as _copy
import hashlib
import json
import shutil
import time
from pathlib import Path

from pytest_qfacts.atomic import atomic_write_dir, named_lock

FORMAT = 1
ENTRY = "entry.json"
TENSORS = "tensors.safetensors"


class CacheEntryError(Exception):
    """An entry that cannot be used (missing file, wrong size or hash, foreign key, bad tensor)."""


# -- key -----------------------------------------------------------------------------
def library_version(distribution: str) -> str:
    """The installed version of ``distribution`` ("unknown" when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(distribution)
    except PackageNotFoundError:
        return "unknown"


def library_versions(backend) -> dict:
    """Versions of the libraries that change a quantized model's numbers."""
    names = ["torch", "transformers", "pytest-qfacts"]
    if backend.library and backend.library not in names:
        names.append(backend.library)
    return {name: library_version(name) for name in names}


def cache_key(reference, recipe, backend, calibration_digest: str | None = None) -> dict:
    """The full key of ``recipe`` applied to ``reference`` (a ``LoadedModel``); see the module docstring."""
    return {"format": FORMAT, "model": reference.fingerprint, "dtype": str(reference.dtype),
            "device": str(reference.device).split(":")[0], "recipe": str(recipe),
            "calibration": calibration_digest if backend.needs_calibration else None,
            "versions": library_versions(backend)}


def key_digest(key: dict) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:24]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the cache -------------------------------------------------------------------------
class QuantCache:
    """Entries under ``root`` (normally ``<cache-dir>/quantized``)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def entry_dir(self, key: dict) -> Path:
        return self.root / key_digest(key)

    def lock(self, key: dict):
        """The lock of ``key``'s entry (a context manager; not reentrant)."""
        return named_lock(self.root, key_digest(key))

    def read(self, key: dict) -> dict:
        """The checked ``entry.json`` of ``key``'s entry; ``FileNotFoundError`` when absent,
        ``CacheEntryError`` when it is unusable."""
        folder = self.entry_dir(key)
        if not folder.is_dir():
            raise FileNotFoundError(folder)
        try:
            meta = json.loads((folder / ENTRY).read_text(encoding="utf-8"))
        except (OSError, ValueError) as err:
            raise CacheEntryError(f"{ENTRY} unreadable ({type(err).__name__})") from None
        if not isinstance(meta, dict) or meta.get("key") != key:
            raise CacheEntryError(f"{ENTRY} holds another key")
        files = meta.get("files")
        if not isinstance(files, dict) or not files:
            raise CacheEntryError(f"{ENTRY} lists no files")
        for name, expected in files.items():
            path = folder / name
            if not path.is_file() or path.stat().st_size != expected.get("bytes"):
                raise CacheEntryError(f"file {name} is missing or has the wrong size")
            if _sha256(path) != expected.get("sha256"):
                raise CacheEntryError(f"file {name} does not match its sha256")
        return meta

    def remove(self, key: dict) -> None:
        shutil.rmtree(self.entry_dir(key), ignore_errors=True)

    def write(self, key: dict, backend, result, reference) -> Path | None:
        """Store ``result`` (call under ``lock(key)``); None when the backend cannot save this model."""
        target = self.entry_dir(key)

        def fill(tmp: Path) -> bool:
            if not backend.save(result, tmp, reference):
                return False
            files = {p.name: {"bytes": p.stat().st_size, "sha256": _sha256(p)}
                     for p in sorted(tmp.iterdir()) if p.is_file()}
            meta = {"key": key, "files": files, "result": _result_json(result), "written": time.time()}
            (tmp / ENTRY).write_text(json.dumps(meta, indent=1, sort_keys=True), encoding="utf-8")
            return True

        # an unusable entry left behind at ``target`` is replaced
        return target if atomic_write_dir(target, fill) else None


def _result_json(result) -> dict:
    return {"library": result.library, "library_version": result.library_version, "bits": result.bits,
            "group_size": result.group_size, "seconds": result.seconds, "weight_bytes": result.weight_bytes,
            "details": {str(k): v for k, v in result.details.items()},
            "info": {k: v for k, v in result.info.items() if not k.startswith("cache")}}


def _result_from_json(model, recipe, stored: dict, info: dict):
    from pytest_qfacts.quant.base import QuantResult

    return QuantResult(model=model, recipe=recipe, library=stored["library"], library_version=stored["library_version"],
                       bits=stored["bits"], group_size=stored["group_size"], seconds=float(stored["seconds"]),
                       weight_bytes=int(stored["weight_bytes"]), details=dict(stored.get("details", {})),
                       info={**stored.get("info", {}), **info})


# -- what the session calls --------------------------------------------------------------
def cached_quantize(reference, recipe, *, copy: bool = True, cache: QuantCache | None = None,
                    calibration=None, progress=None):
    """``QuantResult`` of ``recipe`` on ``reference`` (a ``LoadedModel``): read from ``cache`` when it
    holds the entry, else quantized (a copy of the reference when ``copy``) and stored.

    ``result.info["cache"]`` says which: ``hit`` (with ``load_seconds`` and the entry's ``cache_path``),
    ``stored`` (with ``cache_path``), ``not stored`` (the backend could not save this model), ``off`` (no cache, a backend
    that is not cacheable, or one that loads a checkpoint instead of quantizing the reference).
    """
    from pytest_qfacts.quant import check_available, parse_recipe, quantize

    recipe = parse_recipe(recipe)
    backend = check_available(recipe)
    prepared = None
    if backend.needs_calibration and calibration is not None:
        prepared = calibration.prepare(reference.tokenizer, getattr(reference.model.config, "max_position_embeddings", None))

    def build():
        model = _copy.deepcopy(reference.model) if copy and backend.uses_reference else reference.model
        return quantize(model, recipe, tokenizer=reference.tokenizer, device=reference.device,
                        calibration=calibration)

    if cache is None or not backend.cacheable or not backend.uses_reference:  # ckpt: is on disk already
        result = build()
        result.info["cache"] = "off"
        return _drop_files(result)
    key = cache_key(reference, recipe.text, backend, prepared.digest if prepared is not None else None)
    hit = _try_read(cache, key, backend, reference, recipe, copy, progress)
    if hit is not None:
        return hit
    with cache.lock(key):
        # another process may have written it
        hit = _try_read(cache, key, backend, reference, recipe, copy, progress, locked=True)
        if hit is not None:
            return hit
        result = build()
        path = cache.write(key, backend, result, reference)
    _drop_files(result)
    result.info["cache"] = "stored" if path is not None else "not stored"
    if path is not None:
        result.info["cache_path"] = str(path)
    if progress is not None:
        progress.note(f"{recipe.text}: quantized model stored in the cache: {path}" if path is not None else
                      f"{recipe.text}: the quantized model is not cached (backend '{backend.name}' cannot save it)")
    return result


def _drop_files(result):
    """Remove what the library wrote while quantizing (kept until the cache took it)."""
    cleanup = getattr(result.files, "cleanup", None)
    if cleanup is not None:
        cleanup()
    result.files = None
    return result


def _try_read(cache: QuantCache, key: dict, backend, reference, recipe, copy: bool, progress, locked: bool = False):
    """The cached result, or None (absent; unusable, then removed). ``locked``: the caller holds ``cache.lock(key)``."""
    started = time.perf_counter()
    try:
        meta = cache.read(key)
        model = backend.load(reference, cache.entry_dir(key), recipe, copy=copy)
    except FileNotFoundError:
        return None
    except Exception as err:  # a bad entry must never stop the run: rebuild it
        if not copy:  # the load may have half-overwritten the model it was handed: nothing to rebuild from
            raise
        if progress is not None:
            progress.note(f"{recipe.text}: ignoring the unusable cache entry {cache.entry_dir(key)} "
                          f"({type(err).__name__}: {err}); quantizing again")
        if locked:
            cache.remove(key)
        else:
            with cache.lock(key):
                cache.remove(key)
        return None
    path = cache.entry_dir(key)
    if progress is not None:
        progress.note(f"{recipe.text}: loaded from the quantized-model cache {path} (no quantization)")
    return _result_from_json(model, recipe, meta["result"], {
        "cache": "hit", "cache_path": str(path), "load_seconds": round(time.perf_counter() - started, 3)})


# -- the default save/load of QuantBackend: tensors that differ from the reference ----------
def save_changed_tensors(model, reference_model, directory) -> bool:
    """Write the state-dict tensors of ``model`` that differ from ``reference_model``'s to
    ``directory/tensors.safetensors``. False when the two state dicts do not match in names,
    shapes, dtypes and plain-tensor types (the model's structure changed: this cannot restore it)."""
    import torch
    from safetensors.torch import save_file

    mine, ref = model.state_dict(), reference_model.state_dict()
    if mine.keys() != ref.keys():
        return False
    changed: dict[str, torch.Tensor] = {}
    seen: dict[tuple, str] = {}
    for name, t in mine.items():
        r = ref[name]
        if type(t) is not torch.Tensor or type(r) is not torch.Tensor or t.shape != r.shape or t.dtype != r.dtype:
            return False
        if torch.equal(t, r):
            continue
        storage = (t.untyped_storage().data_ptr(), t.storage_offset(), tuple(t.shape), tuple(t.stride()))
        if storage in seen:  # tied weights: stored once, restored through the tie
            continue
        seen[storage] = name
        changed[name] = t.detach().to("cpu").contiguous()
    save_file(changed, str(Path(directory) / TENSORS), metadata={"format": str(FORMAT)})
    return True


def load_changed_tensors(reference_model, directory, *, copy: bool = True):
    """A copy of ``reference_model`` (itself when not ``copy``) with the stored tensors loaded into it."""
    import torch
    from safetensors.torch import load_file

    stored = load_file(str(Path(directory) / TENSORS))
    expected = reference_model.state_dict()
    for name, value in stored.items():  # all checked before anything is written
        mine = expected.get(name)
        if mine is None or mine.shape != value.shape or mine.dtype != value.dtype:
            raise CacheEntryError(f"stored tensor '{name}' does not fit the model")
    model = _copy.deepcopy(reference_model) if copy else reference_model
    target = model.state_dict()
    with torch.no_grad():
        for name, value in stored.items():
            target[name].copy_(value)
    return model
