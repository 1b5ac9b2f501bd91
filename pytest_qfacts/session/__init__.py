"""The run-wide state behind the plugin's fixtures and the ``qfacts`` command, split by concern:

* ``pool.ModelPool``: loading and releasing models, the memory policy;
* ``reference.ReferenceProvider``: the reference's run record, from a stored baseline or the model;
* ``ledger.RunLedger``: comparisons, gate outcomes, xdist gathering.

``QFactsSession.compare(suite, recipe)`` is the one-way pipeline: plan -> reference run ->
measure the quantized model -> compare -> (store the quantized run) -> ledger. No lower layer
receives the session.
"""
from __future__ import annotations

import dataclasses

from pytest_qfacts.session.ledger import RunLedger
from pytest_qfacts.session.pool import ModelPool
from pytest_qfacts.session.reference import ReferenceProvider, run_info
from pytest_qfacts.settings import Settings


class QFactsSession:
    def __init__(self, settings: Settings, progress=None):
        from pytest_qfacts.progress import Progress

        self.settings = settings
        self.progress = progress or Progress(quiet=settings.quiet)
        self.pool = ModelPool(settings, self.progress)
        self.references = ReferenceProvider(settings, self.pool, self.progress)
        self.ledger = RunLedger()
        self.cli_suites: list = []
        self._saved: set = set()   # run records written under --qfacts-save-runs

    # -- what the plugin's fixtures and the CLI use ----------------------------------
    def missing_model_reason(self) -> str | None:
        return self.pool.missing_model_reason()

    @property
    def spec(self):
        return self.pool.spec

    @property
    def loaded_reference(self):
        return self.pool.loaded_reference

    def reference(self):
        return self.pool.reference()

    def quantized(self, recipe: str):
        return self.pool.quantized(recipe, reference_may_stay_unloaded=self._baselines_may_serve())

    def release_quantized(self, recipe: str | None = None) -> None:
        self.pool.release_quantized(recipe)

    def close(self) -> None:
        self.pool.close()

    def _baselines_may_serve(self) -> bool:
        """Whether stored baselines of this model exist (then the reference may never be needed)."""
        from pytest_qfacts.store.baseline import model_folder

        s = self.settings
        if s.baseline == "off" or s.update_baseline:
            return False
        folder = model_folder(s.baseline_dir, self.spec.label)
        return folder.is_dir() and any(folder.glob("*.safetensors"))

    # -- the pipeline -------------------------------------------------------------------
    def plan(self, suite, probes=None):
        """The plan of ``suite`` with ``probes`` (None: the run's ``--qfacts-probes``; or names, "all", "none")."""
        from pytest_qfacts.measure import make_plan
        from pytest_qfacts.settings import parse_probes

        names = self.settings.probes if probes is None else parse_probes(probes)
        return make_plan(suite, names, batch_size=self.settings.batch_size, lens_facts=self.settings.lens_facts)

    def reference_result(self, suite, probes=()):
        """The reference's ``ReferenceRun`` on ``suite`` (from a stored baseline or the model)."""
        return self.references.get(suite, self.plan(suite, tuple(probes)))

    def compare(self, suite, recipe: str, probes=None):
        """Compare the reference with ``recipe`` on ``suite``; cached, and recorded for the reports."""
        from pytest_qfacts.compare import compare
        from pytest_qfacts.measure import measure

        if self.settings.tier == "smoke":
            suite = suite.sample(self.settings.smoke_facts)
        plan = self.plan(suite, probes)
        key = (self.settings.model, recipe, suite.content_hash())
        self.ledger.touched.append(key)
        cached = self.ledger.get(key)
        if cached is not None and set(plan.probes) <= set(cached.context.get("probes", ())):
            return cached
        ref = self.references.get(suite, plan)
        loaded, result = self.quantized(recipe)
        if "calibration" in result.info:  # the quantizer read calibration text: warn if it holds this suite's answers
            self.pool.calibration().check_leaks(suite, recipe, loaded.tokenizer,
                                                getattr(loaded.model.config, "max_position_embeddings", None),
                                                progress=self.progress)
        info = run_info(self.settings, self.pool, suite, recipe=recipe, quant=result.summary())
        if info is None:  # the fingerprint needs the reference's weights: take the reference run's
            info = dataclasses.replace(ref.run.info, recipe=recipe, quant=result.summary())
        quantized_run = measure(loaded.model, loaded.tokenizer, suite, plan, info, reference=ref.run,
                                progress=self.progress)
        if self.settings.save_runs:
            self._save(ref.run, quantized_run)
        context: dict[str, object] = {"probes": list(plan.probes), "tier": self.settings.tier}
        if ref.baseline_path:
            context = {"baseline": {"path": ref.baseline_path, "written": ref.written}, **context}
        comparison = compare(ref.run, quantized_run, reference_source=ref.source, context=context)
        self.ledger.add(key, comparison)
        return comparison

    def _save(self, *runs) -> None:
        """Store run records under ``--qfacts-save-runs`` (``qfacts gate`` and ``--qfacts-compare-to`` read them)."""
        from pathlib import Path

        from pytest_qfacts.store.runs import run_file_name, write_run

        assert self.settings.save_runs  # called only when --qfacts-save-runs names a folder
        folder = Path(self.settings.save_runs)
        for run in runs:
            path = folder / run_file_name(run.info)
            if (path, run.info.probes) not in self._saved:
                write_run(path, run)
                self._saved.add((path, run.info.probes))

    # -- the ledger, for the plugin's hooks ----------------------------------------------
    @property
    def runs(self):
        return self.ledger.runs

    @property
    def gates(self):
        return self.ledger.gates

    @property
    def touched(self):
        return self.ledger.touched

    @touched.setter
    def touched(self, value):
        self.ledger.touched = value

    @property
    def worker_runs(self):
        return self.ledger.worker_runs

    def report(self) -> dict:
        return self.ledger.report()

    def key_numbers(self):
        return self.ledger.key_numbers()

    def record_outcome(self, passed: bool, failed: bool) -> None:
        self.ledger.record_outcome(passed, failed)
