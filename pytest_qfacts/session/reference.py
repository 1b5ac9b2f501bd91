"""The reference provider: the reference's ``ModelRun`` for a suite, from a stored baseline or the model.

``--qfacts-baseline=auto`` (default) uses the stored baseline of a (model, suite) when one exists
and refuses one whose key does not match; ``require`` also refuses to fall back to the model when
none exists; ``off`` ignores baselines. ``--qfacts-update-baseline`` measures the reference model
and writes the baseline, once per run: under pytest-xdist the first worker to take the file lock
writes it and every worker (the writer included) then reads the same file, so all of them compare
against identical numbers.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # annotations only: configuring the plugin imports no numpy (tests/plugin/test_plugin_import.py)
    from pytest_qfacts.record.model_run import ModelRun, RunInfo
    from pytest_qfacts.store.baseline import BaselineKey, BaselineStore


@dataclass
class ReferenceRun:
    run: ModelRun
    source: str                    # "model" or "baseline"
    baseline_path: str | None = None
    written: bool = False          # this process wrote the baseline


def run_info(settings, pool, suite, *, recipe: str | None = None, quant: dict | None = None) -> RunInfo | None:
    """The provenance of a run of ``suite`` (None when the fingerprint is unknown without loading the model)."""
    from pytest_qfacts.models.device import resolve_device, resolve_dtype
    from pytest_qfacts.models.fingerprint import spec_fingerprint
    from pytest_qfacts.record.model_run import RunInfo
    from pytest_qfacts.store.baseline import library_versions

    loaded = pool.loaded_reference
    fingerprint = loaded.fingerprint if loaded is not None else spec_fingerprint(pool.spec, settings.revision)
    if fingerprint is None:
        return None
    device = loaded.device if loaded is not None else resolve_device(settings.device)
    dtype = loaded.dtype if loaded is not None else str(resolve_dtype(settings.dtype, device)).replace("torch.", "")
    return RunInfo(model=pool.spec.label, suite=suite.name, suite_hash=suite.content_hash(), recipe=recipe,
                   fingerprint=fingerprint, quant=dict(quant or {}), lens_facts=settings.lens_facts, dtype=str(dtype),
                   device=str(device), batch_size=settings.batch_size, versions=library_versions(),
                   tier=settings.tier, run_id=settings.run_id)


def _yaml_hint(settings, suite) -> str:
    """The command that creates the missing baseline, with a suite argument that works (a file path for files)."""
    from pytest_qfacts.suites import list_builtin_suites

    source = getattr(suite, "source", None)
    builtin = suite.name in list_builtin_suites()
    argument = source if source and source != "<memory>" and not builtin else suite.name
    return f"`qfacts baseline --model {settings.model} --suite {argument} --dir {settings.baseline_dir}`"


class ReferenceProvider:
    def __init__(self, settings, pool, progress) -> None:
        self.settings = settings
        self.pool = pool
        self.progress = progress
        self._runs: dict[str, ReferenceRun] = {}   # suite hash -> the reference run (the widest probe set so far)

    def get(self, suite, plan) -> ReferenceRun:
        """The reference's run of ``suite`` covering ``plan``'s probes (once per suite and probe set)."""
        cached = self._runs.get(suite.content_hash())
        if cached is None or not set(plan.probes) <= set(cached.run.info.probes):
            self._runs[suite.content_hash()] = self._fetch(suite, plan)
        return self._runs[suite.content_hash()]

    def _measure(self, suite, plan, label: str = "reference") -> ModelRun:
        from pytest_qfacts.measure import measure

        loaded = self.pool.reference()
        info = run_info(self.settings, self.pool, suite)
        assert info is not None  # the reference is loaded, so its fingerprint is known
        return measure(loaded.model, loaded.tokenizer, suite, plan, info, progress=self.progress)

    def _fetch(self, suite, plan) -> ReferenceRun:
        from pytest_qfacts.store.baseline import BaselineError, BaselineKey, BaselineStore

        s = self.settings
        if s.baseline == "off":
            return ReferenceRun(self._measure(suite, plan), "model")
        info = run_info(s, self.pool, suite)
        if info is None:
            self.pool.reference()  # learn the fingerprint by loading
            info = run_info(s, self.pool, suite)
            assert info is not None  # the reference is loaded now, so its fingerprint is known
        key = BaselineKey.from_info(dataclasses.replace(info, probes=tuple(plan.probes)))
        store = BaselineStore(s.baseline_dir)
        if s.update_baseline:
            return self._update(store, key, suite, plan)
        stored = store.load(key)  # raises BaselineError on a mismatch or a corrupt file
        if stored is None:
            if s.baseline == "require":
                raise BaselineError(f"--qfacts-baseline=require: no stored baseline for model '{key.model}' on suite "
                                    f"'{key.suite}' (expected {store.path(key)}); create it with "
                                    f"--qfacts-update-baseline or {_yaml_hint(s, suite)}."
                                    + store.older_versions(key, suite.items()))
            return ReferenceRun(self._measure(suite, plan), "model")
        return ReferenceRun(stored, "baseline", str(store.path(key)))

    def _update(self, store: BaselineStore, key: BaselineKey, suite, plan) -> ReferenceRun:
        from pytest_qfacts.store.baseline import BaselineError, BaselineKey, lock_for

        run_id = self.settings.run_id
        path = store.path(key)
        with lock_for(path):
            current = None
            if path.exists():
                try:
                    stored, header = store.read_key(path)
                    if run_id and header["info"].get("run_id") == run_id:
                        if not key.differences(stored):
                            current = store.load(key)  # another worker wrote it in this run
                        else:  # written this run for fewer probes: keep those and add the new ones
                            plan = dataclasses.replace(plan, probes=tuple(dict.fromkeys(plan.probes + stored.probes)))
                except BaselineError:
                    current = None  # corrupt or foreign: rewrite it
            if current is not None:
                return ReferenceRun(current, "baseline", str(path), False)
            run = self._measure(suite, plan)
            store.write(run)
            self.progress.note(f"baseline written: {path}")
            written = store.load(BaselineKey.from_info(run.info))
            assert written is not None  # just written, under this lock
            return ReferenceRun(written, "baseline", str(path), True)
