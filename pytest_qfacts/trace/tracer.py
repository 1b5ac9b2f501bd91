"""The tracer: runs the probes' recordings in the scoring forward (any model, found by structure).

``Tracer(model, probes, n_items)`` is the observer ``score_items`` calls before and after each
batch. It builds the measuring context the probes' hooks read (``probes/base.py``): the layout,
the current batch's fact indices and token positions (last prompt token ``last``, last subject
token ``subj``; a fact without a subject span uses its last token), and the arrays the hooks
fill. Each recording is allocated and hooked once even when several probes share it. Nothing
of shape [batch, sequence, hidden] outlives a hook: hooks gather their rows and copy them out.
After the forward, ``finish(scores)`` runs the probes' post-forward steps (the logit lens).
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.trace.layout import Layout, discover
from pytest_qfacts.trace.weights import dense_shape, dense_weight


def _rows(tensor, positions):
    """``tensor[b, positions[b]]`` for [B, T, D] inputs; [B*T, D] inputs (OPT's MLP) are reshaped first."""
    import torch

    if tensor.dim() == 2:
        tensor = tensor.reshape(len(positions), -1, tensor.shape[-1])
    index = torch.arange(tensor.shape[0], device=tensor.device)
    return tensor[index, positions.to(tensor.device)]


class BatchView:
    """The batch being scored, as the probes' hooks see it (see ``probes/base.py``)."""

    def __init__(self, layout: Layout, index, rows, mask):
        import torch

        width = mask.shape[1]
        last = [width - len(r.object_ids) for r in rows]
        subj = [width - len(r.input_ids) + r.subject_last if r.subject_last is not None else lp
                for r, lp in zip(rows, last)]
        self.index = np.asarray(index)
        self.start = [width - len(r.input_ids) for r in rows]
        self.has_subject = [r.subject_last is not None for r in rows]
        self._positions = {"last": torch.tensor(last, device=mask.device), "subj": torch.tensor(subj, device=mask.device)}
        self._gold = [r.object_ids[0] for r in rows]
        self._layout = layout
        self._u_gold = None

    def positions(self, which: str) -> np.ndarray:
        return self._positions[which].cpu().numpy()

    def rows(self, tensor, which: str):
        return _rows(tensor, self._positions[which])

    def u_gold(self):
        """Unembedding rows of each fact's first gold token times the final norm's weight, float32 [B, H]."""
        if self._u_gold is None:
            import torch

            weight = self._layout.unembed.weight
            u = weight[torch.tensor(self._gold, device=weight.device)]
            norm_w = getattr(self._layout.final_norm, "weight", None)
            self._u_gold = (u * norm_w if norm_w is not None else u).float()
        return self._u_gold


class Tracer:
    """Observer for ``score_items``: ``with Tracer(model, probes, n) as t: score_items(..., observer=t)``."""

    def __init__(self, model, probes, n_items: int, *, lens_facts: int = 0):
        self.model = model
        self.probes = list(probes)
        self.layout: Layout = discover(model)
        self.n_items = n_items
        self.n_layers = self.layout.n_layers
        self.hidden = self.layout.unembed.weight.shape[1]
        out, inp = dense_shape(self.layout.down[0])  # no dequantization (a packed layer stays packed)
        self.d_ff = inp if out == self.hidden else out
        self.lens_facts = lens_facts
        self.arrays: dict[str, np.ndarray] = {}
        self.scratch: dict = {}
        self.batch: BatchView | None = None
        self._recordings = list({rec.name: rec for probe in self.probes for rec in probe.recordings}.values())
        self._handles: list = []
        self._old_attn = None
        self._blas_limit = None

    def dense_weight(self, module):
        """The [out, in] weight of a linear layer, dequantized when a library quantized it (``trace/weights.py``)."""
        return dense_weight(module)

    def lens_gold_stats(self, resid, gold, max_facts):
        from pytest_qfacts.trace.lens import lens_gold_stats

        return lens_gold_stats(self.layout, resid, gold, max_facts=max_facts)

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self):
        from threadpoolctl import threadpool_limits

        # numpy's BLAS runs inside torch's forward (the hooks): one BLAS thread, so its idle workers do not
        # spin against torch's on a small machine (measured: 8x slower scoring with numpy matmuls in hooks)
        self._blas_limit = threadpool_limits(limits=1, user_api="blas")
        for rec in self._recordings:
            self.arrays.update(rec.allocate(self))
        for rec in self._recordings:
            for module, kind, fn in rec.hooks(self):
                register = module.register_forward_pre_hook if kind == "pre" else module.register_forward_hook
                self._handles.append(register(fn))
        if any(rec.eager_attention for rec in self._recordings):
            self._old_attn = getattr(self.model.config, "_attn_implementation", None)
            self.model.set_attn_implementation("eager")
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        self._blas_limit.restore_original_limits()
        if self._old_attn is not None:
            self.model.set_attn_implementation(self._old_attn)
        return False

    # -- per batch ---------------------------------------------------------------
    def before(self, batch, rows, mask) -> None:
        self.batch = BatchView(self.layout, batch, rows, mask)

    def after(self, batch, rows, outputs) -> None:
        self.batch = None

    def finish(self, scores) -> dict[str, np.ndarray]:
        """Run every probe's post-forward step (the model is still loaded; numpy's BLAS gets its threads
        back: no torch forward runs now); returns all arrays."""
        if self._blas_limit is not None:
            self._blas_limit.restore_original_limits()
        for probe in self.probes:
            if probe.finish is not None:
                self.arrays.update(probe.finish(self, scores))
        self.scratch.clear()
        return self.arrays
