"""Stored reference baselines: the reference's ``ModelRun`` (``store/runs.py``), one file per (model, suite).

``<dir>/<model>/<suite>-<hash12>.safetensors`` (default dir ``<rootdir>/.qfacts/baselines/``, meant
to be committed). The key (``BaselineKey``) is what makes stored numbers valid for a run: the
model's weights fingerprint, the suite's content hash, the probes recorded (a superset of those
asked for is fine), the lens fact count, dtype, device type, and the versions of the libraries
that change numbers (torch, transformers, the record format). A file whose key does not match
is refused with the differences named; when the suite changed, the message names the stored
version and the prompts added and removed. Sizes per 1,000 facts: docs/baselines.md.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.record.model_run import RECORD_FORMAT, ModelRun, RunInfo
from pytest_qfacts.store.runs import RunRecordError, read_header, read_run, slug, write_run

SUFFIX = ".safetensors"
MAX_LISTED_PROMPTS = 5   # prompts named in a "suite changed" message


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
    def from_info(cls, info: RunInfo) -> BaselineKey:
        return cls(model=info.model, fingerprint=info.fingerprint or "", suite=info.suite, suite_hash=info.suite_hash,
                   probes=tuple(info.probes), lens_facts=info.lens_facts, dtype=info.dtype,
                   device_type=info.device.split(":")[0], versions=dict(info.versions))

    def differences(self, stored: BaselineKey) -> list[str]:
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
    """Versions of what moves the numbers: torch, transformers, and the run-record format."""
    import torch
    import transformers

    return {"torch": torch.__version__.split("+")[0], "transformers": transformers.__version__,
            "format": str(RECORD_FORMAT)}


def _baseline_error(err: RunRecordError) -> BaselineError:
    """The run-record error, worded for a baseline."""
    return BaselineError(str(err).replace("run record ", "baseline ", 1))


def model_folder(root: str | Path, model: str) -> Path:
    """Where the baselines of ``model`` (its label) live under ``root``."""
    return Path(root) / slug(model)


def baseline_path(root: str | Path, key: BaselineKey) -> Path:
    return model_folder(root, key.model) / f"{slug(key.suite)}-{key.suite_hash[:12]}{SUFFIX}"


def lock_for(path: Path):
    """The lock of one baseline file (``atomic.named_lock``: in the hidden, git-ignored staging folder beside
    it, removed on release), so one process measures and writes it while the others wait, then read it."""
    from pytest_qfacts.atomic import named_lock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return named_lock(path.parent, f"{path.name}.baseline")


def _prompts_changed(old_items: list, new_items) -> str:
    old = {(i["relation"], i["prompt"], i["object"]) for i in old_items}
    new = {(i.relation, i.prompt, i.object) for i in new_items}
    added, removed = sorted(new - old), sorted(old - new)

    def shown(rows):
        listed = "; ".join(f"[{r}] {p!r} -> {o!r}" for r, p, o in rows[:MAX_LISTED_PROMPTS])
        return listed + (f" (+{len(rows) - MAX_LISTED_PROMPTS} more)" if len(rows) > MAX_LISTED_PROMPTS else "")

    parts = []
    if added:
        parts.append(f"{len(added)} prompt(s) added: {shown(added)}")
    if removed:
        parts.append(f"{len(removed)} prompt(s) removed: {shown(removed)}")
    return "; ".join(parts) or "same prompts, other gate or metadata"


class BaselineStore:
    """Read and write baselines under ``root``."""

    def __init__(self, root: str | Path):
        self.root = Path(root)

    def path(self, key: BaselineKey) -> Path:
        return baseline_path(self.root, key)

    def write(self, run: ModelRun) -> Path:
        """Write the reference's run atomically. Call under ``lock_for(path)``."""
        return write_run(self.path(BaselineKey.from_info(run.info)), run)

    def read_key(self, path: Path) -> tuple[BaselineKey, dict]:
        try:
            header = read_header(path)
        except RunRecordError as err:
            raise _baseline_error(err) from None
        return BaselineKey.from_info(RunInfo.from_json(header["info"])), header

    def older_versions(self, key: BaselineKey, items) -> str:
        """A sentence about stored baselines of the same suite name with another content hash ('' if none)."""
        folder = model_folder(self.root, key.model)
        others = [p for p in sorted(folder.glob(f"{slug(key.suite)}-*{SUFFIX}")) if p != self.path(key)]
        for path in others:
            try:
                stored, header = self.read_key(path)
            except BaselineError:
                continue
            if stored.suite == key.suite:
                return (f" A baseline of another version of suite '{key.suite}' exists: {path} (suite hash "
                        f"{stored.suite_hash[:12]}, this suite {key.suite_hash[:12]}; "
                        f"{_prompts_changed(header['items'], items)}): the suite was edited since it was stored.")
        return ""

    def load(self, key: BaselineKey) -> ModelRun | None:
        """The stored reference run for ``key``; None when there is none; BaselineError when it cannot serve."""
        path = self.path(key)
        if not path.exists():
            return None
        stored, _ = self.read_key(path)
        diffs = key.differences(stored)
        if diffs:
            raise BaselineError(f"baseline {path} does not match this run: " + "; ".join(diffs)
                                + ". Re-create it with --qfacts-update-baseline (or `qfacts baseline`).")
        try:
            return read_run(path)
        except RunRecordError as err:
            raise _baseline_error(err) from None
