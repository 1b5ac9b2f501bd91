"""The run-wide state behind the fixtures and collected suites.

Memory policy: the reference model is loaded once and kept for the whole run;
at most one quantized model is alive at a time: asking for another recipe
releases the previous one first. Reference scores are cached per suite, and
every comparison is kept (without its model) for the reports.
"""
from __future__ import annotations

from pytest_qfacts.settings import Settings


class QFactsSession:
    def __init__(self, settings: Settings, progress=None):
        from pytest_qfacts.progress import Progress

        self.settings = settings
        self.progress = progress or Progress(quiet=settings.quiet)
        self.runs: dict[tuple, object] = {}
        self._reference = None
        self._quantized: tuple[str, object, object] | None = None
        self._calibration = None
        self._reference_scores: dict[str, object] = {}
        self._spec = None
        self.cli_suites: list = []
        self.gates: dict[tuple, dict] = {}   # run key -> {"passed", "checked", "failed"}
        self.touched: list[tuple] = []       # run keys the current test compared
        self.twohop_reference: dict = {}     # suite hash -> the reference's TwoHopTrace (compare/extras.py)
        self.worker_runs: list[dict] = []    # report entries gathered from pytest-xdist workers

    # -- models -------------------------------------------------------------
    def missing_model_reason(self) -> str | None:
        if not self.settings.model:
            return "qfacts: no model configured (pass --qfacts-model=NAME or set qfacts_model in the ini file)"
        return None

    @property
    def spec(self):
        if self._spec is None:
            from pytest_qfacts.models.registry import resolve_model

            self._spec = resolve_model(self.settings.model, self.settings.aliases)
        return self._spec

    @property
    def loaded_reference(self):
        """The reference model if it is loaded (None when a stored baseline spared loading it)."""
        return self._reference

    def reference(self):
        """The full-precision model, loaded on first use and kept for the run."""
        if self._reference is None:
            from pytest_qfacts.models.loading import load_model

            s = self.settings
            if s.quiet:
                from transformers.utils import logging as hf_logging

                hf_logging.disable_progress_bar()
            with self.progress.step(f"loading {self.spec.label} (reference, device={s.device}, dtype={s.dtype})"):
                self._reference = load_model(self.spec, device=s.device, dtype=s.dtype, revision=s.revision,
                                             trust_remote_code=s.trust_remote_code, cache_dir=self._cache_dir(),
                                             devices=s.devices)
        return self._reference

    def quantized(self, recipe: str):
        """(LoadedModel, QuantResult) for ``recipe``; the previous recipe's model is released first."""
        if self._quantized is not None and self._quantized[0] == recipe:
            return self._quantized[1], self._quantized[2]
        self.release_quantized()
        from pytest_qfacts.models.loading import LoadedModel
        from pytest_qfacts.quant import check_available
        from pytest_qfacts.store.quant_cache import cached_quantize

        check_available(recipe)  # a missing library raises BackendUnavailable before any copy
        reference, kept = self._weights_to_quantize()
        with self.progress.step(f"quantizing {reference.spec.label} with {recipe}"):
            # read from the quantized-model cache when it holds the recipe, else quantize a copy (when kept) and store
            # it; ckpt: loads its own model and only reads the reference: no copy
            result = cached_quantize(reference, recipe, copy=kept, cache=self.quant_cache(),
                                     calibration=self.calibration(), progress=self.progress)
        loaded = LoadedModel(result.model, reference.tokenizer, reference.spec, reference.device, reference.dtype,
                             f"{reference.fingerprint}:{recipe}", result.seconds)
        self._quantized = (recipe, loaded, result)
        return loaded, result

    def quant_cache(self):
        """The on-disk cache of quantized models (``<cache-dir>/quantized``); None under --qfacts-no-cache."""
        if self.settings.no_cache:
            return None
        from pytest_qfacts.models.loading import default_cache_dir
        from pytest_qfacts.store.quant_cache import QuantCache

        return QuantCache((self._cache_dir() or default_cache_dir()) / "quantized")

    def calibration(self):
        """The calibration text of GPTQ/AWQ (--qfacts-calibration*), read when first needed."""
        if self._calibration is None:
            from pytest_qfacts.quant.calibration import Calibration

            s = self.settings
            self._calibration = Calibration(s.calibration, s.calibration_samples, s.calibration_length)
        return self._calibration

    def _weights_to_quantize(self):
        """(LoadedModel, kept): the kept reference (quantize a copy), or, when stored baselines spared
        loading it, a fresh load of the same weights that the quantizer may consume in place."""
        if self._reference is not None or not self._baselines_may_serve():
            return self.reference(), True
        from pytest_qfacts.models.loading import load_model

        s = self.settings
        with self.progress.step(f"loading {self.spec.label} weights to quantize (the reference comes from a stored baseline)"):
            return load_model(self.spec, device=s.device, dtype=s.dtype, revision=s.revision,
                              trust_remote_code=s.trust_remote_code, cache_dir=self._cache_dir(),
                              devices=s.devices), False

    def _baselines_may_serve(self) -> bool:
        """Whether stored baselines of this model exist (then the reference may never be needed)."""
        from pytest_qfacts.store.baseline import model_folder

        s = self.settings
        if s.baseline == "off" or s.update_baseline:
            return False
        folder = model_folder(s.baseline_dir, self.spec.label)
        return folder.is_dir() and any(folder.glob("*.safetensors"))

    def release_quantized(self, recipe: str | None = None) -> None:
        """Release the quantized model (only if it is ``recipe``'s, when given)."""
        if self._quantized is not None and recipe in (None, self._quantized[0]):
            self._quantized[1].release()
            self._quantized = None

    def close(self) -> None:
        self.release_quantized()
        if self._reference is not None:
            self._reference.release()
            self._reference = None

    def _cache_dir(self):
        from pathlib import Path

        return Path(self.settings.cache_dir) if self.settings.cache_dir else None

    # -- scoring --------------------------------------------------------------
    def score(self, loaded, suite, label: str, probes=()):
        """Score ``suite`` on one model; with probes, trace it in the same forward.

        Returns (FactScores, Trace or None, lens (prob, rank) or None).
        """
        from pytest_qfacts.scoring.scorer import score_items
        from pytest_qfacts.trace.names import PROBES

        items = suite.items()
        in_pass = [p for p in probes if p in PROBES]
        with self.progress.bar(len(items), f"scoring {suite.name} [{label}]") as update:
            if not in_pass:
                return score_items(loaded.model, loaded.tokenizer, items, batch_size=self.settings.batch_size, on_batch=update), None, None
            from pytest_qfacts.trace.lens import lens_gold_stats
            from pytest_qfacts.trace.tracer import Tracer

            with Tracer(loaded.model, in_pass, len(items)) as tracer:
                scores = score_items(loaded.model, loaded.tokenizer, items, batch_size=self.settings.batch_size,
                                     on_batch=update, observer=tracer)
        lens = (lens_gold_stats(tracer.layout, tracer.trace.resid_last, scores.gold_first, max_facts=self.settings.lens_facts)
                if "lens" in probes else None)
        return scores, tracer.trace, lens

    def reference_result(self, suite, probes=()):
        """The reference's ``ReferenceResult`` on ``suite`` (from a stored baseline or the model), once per probe set."""
        from pytest_qfacts.store.reference import reference_result

        key = suite.content_hash()
        cached = self._reference_scores.get(key)
        if cached is None or not set(probes) <= set(cached[0]):
            self._reference_scores[key] = (tuple(probes), reference_result(self, suite, probes))
        return self._reference_scores[key][1]

    def reference_scores(self, suite, probes=()):
        """The reference's (scores, trace, lens) on ``suite``."""
        ref = self.reference_result(suite, probes)
        return ref.scores, ref.trace, ref.lens

    def compare(self, suite, recipe: str, probes=None):
        """Compare the reference with ``recipe`` on ``suite``; cached, and recorded for the reports.

        ``probes``: None for the run's ``--qfacts-probes``; else names (or "all"/"none").
        """
        from pytest_qfacts.compare import compare_scores
        from pytest_qfacts.settings import parse_probes

        probes = self.settings.probes if probes is None else parse_probes(probes)
        if self.settings.tier == "smoke":
            suite = suite.sample(self.settings.smoke_facts)
        key = (self.settings.model, recipe, suite.content_hash())
        self.touched.append(key)
        cached = self.runs.get(key)
        if cached is not None and set(probes) <= set(cached.extras.get("probes", ())):
            return cached
        ref = self.reference_result(suite, probes)
        reference, ref_trace, ref_lens = ref.scores, ref.trace, ref.lens
        loaded, result = self.quantized(recipe)
        if "calibration" in result.info:  # the quantizer read calibration text: warn if it holds this suite's answers
            self.calibration().check_leaks(suite, recipe, loaded.tokenizer, getattr(loaded.model.config, "max_position_embeddings", None),
                                           progress=self.progress)
        quantized, q_trace, q_lens = self.score(loaded, suite, recipe, probes)
        comparison = compare_scores(suite.items(), reference, quantized, model=self.spec.label, recipe=recipe,
                                    suite=suite.name, suite_hash=suite.content_hash(), quant_info=result.summary(),
                                    reference_source=ref.source)
        if ref.baseline_path:
            comparison.extras["baseline"] = {"path": ref.baseline_path, "written": ref.written}
        comparison.extras["probes"] = list(probes)
        comparison.extras["tier"] = self.settings.tier
        if ref_trace is not None and q_trace is not None:  # an in-pass probe ran (patching alone traces nothing)
            from pytest_qfacts.compare.probes import probe_report

            comparison.extras.update(probe_report(
                ref_trace, q_trace, ref_lens, q_lens, ref_top1=reference.top1, quant_top1=quantized.top1,
                ref_rank=reference.gold_rank, quant_rank=quantized.gold_rank, probes=probes))
        if "patching" in probes:
            from pytest_qfacts.trace.patching import patching_scan

            with self.progress.step(f"activation patching [{recipe}] on {suite.name}"):
                scan = patching_scan(self.reference().model, loaded.model, loaded.tokenizer, suite.items(),
                                     batch_size=self.settings.batch_size)
            comparison.extras["patching"] = scan.summary()
        from pytest_qfacts.compare.extras import add_recall_extras  # subsets, paraphrase, twohop (docs/twohop.md)

        add_recall_extras(self, suite, comparison, loaded)
        self.runs[key] = comparison
        return comparison

    def report(self) -> dict:
        """The JSON report of this run: this process's comparisons plus any gathered from xdist workers."""
        from pytest_qfacts.report.json_report import build_report, merge_runs

        report = build_report(self.runs, self.gates)
        if self.worker_runs:
            report["runs"] = merge_runs(report["runs"] + [dict(r) for r in self.worker_runs])
        return report

    def key_numbers(self) -> list[tuple[str, object]]:
        """(name, value) pairs of the runs the current test compared, for JUnit properties."""
        out = []
        for key in dict.fromkeys(self.touched):
            c = self.runs.get(key)
            if c is None:
                continue
            prefix = f"qfacts[{c.recipe}][{c.suite}]"
            s = c.summary
            out += [(f"{prefix}.reference_top1", round(s.reference_top1, 6)), (f"{prefix}.quantized_top1", round(s.quantized_top1, 6)),
                    (f"{prefix}.drop", round(s.drop, 6)), (f"{prefix}.lost", s.lost), (f"{prefix}.gained", s.gained)]
            if "verdict" in c.extras:
                out.append((f"{prefix}.verdict", c.extras["verdict"]["mode"]))
        return out

    def record_outcome(self, passed: bool, failed: bool) -> None:
        """Attribute the current test's outcome to the runs it compared (for the summary's gate column)."""
        for key in dict.fromkeys(self.touched):
            gate = self.gates.setdefault(key, {"passed": True, "checked": 0, "failed": 0})
            gate["checked"] += 1
            if failed:
                gate["failed"] += 1
                gate["passed"] = False
        self.touched = []
