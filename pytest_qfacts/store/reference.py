"""Where a run's reference numbers come from: a stored baseline, or the full-precision model.

``--qfacts-baseline=auto`` (default) uses the stored baseline of a (model, suite) when one
exists and refuses one whose key does not match; ``require`` also refuses to fall back to
the model when none exists; ``off`` ignores baselines. ``--qfacts-update-baseline`` scores
the reference model and writes the baseline, once per run: under pytest-xdist the first
worker to take the file lock writes it and every worker (the writer included) then reads
the same file, so all of them compare against identical numbers.
"""
from __future__ import annotations

from dataclasses import dataclass

from pytest_qfacts.store.baseline import BaselineError, BaselineKey, BaselineStore, library_versions, lock_for


@dataclass
class ReferenceResult:
    scores: object
    trace: object | None
    lens: tuple | None
    source: str                  # "model" or "baseline"
    baseline_path: str | None = None
    written: bool = False         # this process wrote the baseline


def baseline_key(session, suite, probes) -> BaselineKey | None:
    """The key a baseline must have for this run; None when the model's fingerprint is unknown without loading."""
    from pytest_qfacts.models.device import resolve_device, resolve_dtype
    from pytest_qfacts.models.fingerprint import spec_fingerprint
    from pytest_qfacts.trace.names import PROBES

    s = session.settings
    loaded = session.loaded_reference
    fingerprint = loaded.fingerprint if loaded is not None else spec_fingerprint(session.spec, s.revision)
    if fingerprint is None:
        return None
    device = loaded.device if loaded is not None else resolve_device(s.device)
    dtype = loaded.dtype if loaded is not None else str(resolve_dtype(s.dtype, device)).replace("torch.", "")
    return BaselineKey(model=session.spec.label, fingerprint=fingerprint, suite=suite.name,
                       suite_hash=suite.content_hash(), probes=tuple(p for p in probes if p in PROBES),
                       lens_facts=s.lens_facts, dtype=dtype, device_type=device.split(":")[0],
                       versions=library_versions())


def reference_result(session, suite, probes) -> ReferenceResult:
    """The reference's scores, trace and lens on ``suite`` for these probes (see the module docstring)."""
    s = session.settings
    if s.baseline == "off":
        return _from_model(session, suite, probes)
    key = baseline_key(session, suite, probes)
    if key is None:
        session.reference()  # learn the fingerprint by loading
        key = baseline_key(session, suite, probes)
    store = BaselineStore(s.baseline_dir)
    path = store.path(key)
    if s.update_baseline:
        return _update(session, store, key, suite, probes)
    baseline = store.load(key)  # raises BaselineError on a mismatch or a corrupt file
    if baseline is None:
        if s.baseline == "require":
            raise BaselineError(f"--qfacts-baseline=require: no stored baseline for model '{key.model}' on suite "
                                f"'{key.suite}' (expected {path}); create it with --qfacts-update-baseline "
                                f"or `qfacts baseline --model {s.model} --suite {suite.name}`")
        return _from_model(session, suite, probes)
    return ReferenceResult(baseline.scores, baseline.trace, baseline.lens, "baseline", str(path))


def _from_model(session, suite, probes) -> ReferenceResult:
    scores, trace, lens = session.score(session.reference(), suite, "reference", probes)
    return ReferenceResult(scores, trace, lens, "model")


def _update(session, store: BaselineStore, key: BaselineKey, suite, probes) -> ReferenceResult:
    run_id = session.settings.run_id
    path = store.path(key)
    with lock_for(path):
        written = False
        current = None
        if path.exists():
            try:
                meta = store.read_meta(path)
                if run_id and meta.get("run_id") == run_id:
                    stored = BaselineKey.from_json(meta["key"])
                    if not key.differences(stored):
                        current = store.load(key)  # another worker wrote it in this run
                    else:  # written this run for fewer probes: keep those and add the new ones
                        probes = tuple(dict.fromkeys(tuple(probes) + tuple(stored.probes)))
                        key = baseline_key(session, suite, probes)
            except BaselineError:
                current = None  # corrupt or foreign: rewrite it
        if current is None:
            scores, trace, lens = session.score(session.reference(), suite, "reference (baseline)", probes)
            store.write(key, scores, trace, lens, run_id=run_id)
            session.progress.note(f"baseline written: {path}")
            current = store.load(key)
            written = True
    return ReferenceResult(current.scores, current.trace, current.lens, "baseline", str(path), written)
