"""The model pool: loading, releasing, and the memory policy.

The reference model is loaded on first use and kept for the run; at most one quantized model
is alive at a time: asking for another recipe releases the previous one first. When stored
baselines may serve every suite, the weights to quantize are loaded fresh (and consumed in
place) instead of loading the reference and copying it.
"""
from __future__ import annotations

from pathlib import Path


class ModelPool:
    def __init__(self, settings, progress) -> None:
        from pytest_qfacts.models.loading import forget_load_failures

        forget_load_failures()  # a loading failure is remembered for one run, not across runs in one process
        self.settings = settings
        self.progress = progress
        self._spec = None
        self._reference = None
        self._quantized: tuple | None = None   # (recipe, LoadedModel, QuantResult)
        self._calibration = None

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

    def cache_dir(self) -> Path | None:
        return Path(self.settings.cache_dir) if self.settings.cache_dir else None

    def _load(self, message: str):
        from pytest_qfacts.models.loading import load_model

        s = self.settings
        if s.quiet:
            from transformers.utils import logging as hf_logging

            hf_logging.disable_progress_bar()
        with self.progress.step(message):
            return load_model(self.spec, device=s.device, dtype=s.dtype, revision=s.revision,
                              trust_remote_code=s.trust_remote_code, cache_dir=self.cache_dir(), devices=s.devices)

    def reference(self):
        """The full-precision model, loaded on first use and kept for the run."""
        if self._reference is None:
            s = self.settings
            self._reference = self._load(f"loading {self.spec.label} (reference, device={s.device}, dtype={s.dtype})")
        return self._reference

    def quantized(self, recipe: str, *, reference_may_stay_unloaded: bool = False):
        """(LoadedModel, QuantResult) for ``recipe``; the previous recipe's model is released first."""
        if self._quantized is not None and self._quantized[0] == recipe:
            return self._quantized[1], self._quantized[2]
        self.release_quantized()
        from pytest_qfacts.models.loading import LoadedModel
        from pytest_qfacts.quant import check_available
        from pytest_qfacts.quant.cache import cached_quantize

        check_available(recipe)  # a missing library raises BackendUnavailable before any copy
        if self._reference is not None or not reference_may_stay_unloaded:
            reference, kept = self.reference(), True
        else:
            reference, kept = self._load(f"loading {self.spec.label} weights to quantize "
                                         "(the reference comes from a stored baseline)"), False
        with self.progress.step(f"quantizing {reference.spec.label} with {recipe}"):
            # from the quantized-model cache when it holds the recipe, else quantize a copy (when kept) and store it;
            # ckpt: loads its own model and only reads the reference: no copy
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
        from pytest_qfacts.quant.cache import QuantCache

        return QuantCache((self.cache_dir() or default_cache_dir()) / "quantized")

    def calibration(self):
        """The calibration text of GPTQ/AWQ (--qfacts-calibration*), read when first needed."""
        if self._calibration is None:
            from pytest_qfacts.quant.calibration import Calibration

            s = self.settings
            self._calibration = Calibration(s.calibration, s.calibration_samples, s.calibration_length)
        return self._calibration

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
