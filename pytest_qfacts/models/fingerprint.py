"""Fingerprints: a short hash that changes when a model's weights change.

For a file or directory: sha256 over (relative name, size, first and last MiB)
of every weight and config file. Reading 2 MiB per file keeps this fast on a
15 GB checkpoint; a change that keeps the size and both ends identical would be
missed, which no real re-save or re-download does. For a hub model: id and revision.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_CHUNK = 1 << 20
_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".json", ".bin", ".model", ".txt")


def file_digest(path: Path, h=None):
    h = h or hashlib.sha256()
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with open(path, "rb") as f:
        h.update(f.read(_CHUNK))
        if size > 2 * _CHUNK:
            f.seek(size - _CHUNK)
            h.update(f.read(_CHUNK))
    return h


def path_fingerprint(path: str | Path) -> str:
    path = Path(path)
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file() and p.suffix in _WEIGHT_SUFFIXES)
    for file in files:
        file_digest(file, h)
    return h.hexdigest()[:16]


def hub_fingerprint(model_id: str, revision: str | None, commit: str | None) -> str:
    return hashlib.sha256(f"{model_id}@{commit or revision or 'main'}".encode()).hexdigest()[:16]


def spec_fingerprint(spec, revision: str | None) -> str | None:
    """The fingerprint ``load_model`` would give ``spec``, computed without loading it.

    Local files and folders hash as above. A hub model needs its commit: taken from
    ``revision`` when that is a full commit hash, else from the local Hugging Face cache
    (the snapshot folder that ``revision`` points to). None when it cannot be known
    without the hub; the caller then loads the model to learn it.
    """
    import re

    if spec.kind in ("gguf", "dir"):
        return path_fingerprint(spec.target)
    if revision and re.fullmatch(r"[0-9a-f]{40}", revision):
        return hub_fingerprint(spec.target, revision, revision)
    try:
        from huggingface_hub import try_to_load_from_cache

        found = try_to_load_from_cache(spec.target, "config.json", revision=revision)
    except Exception:  # an odd id or cache layout: we only lose the shortcut
        return None
    if isinstance(found, str):
        commit = Path(found).parent.name
        if re.fullmatch(r"[0-9a-f]{40}", commit):
            return hub_fingerprint(spec.target, revision, commit)
    return None
