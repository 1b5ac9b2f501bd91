"""The tracer: hooks that keep, in the scoring forward, only what the probes need.

Two positions per fact: the last subject token (``subj``) and the last prompt token
(``last``). Nothing of shape [batch, sequence, hidden] outlives its layer's hook:
each hook gathers its two rows and copies them into preallocated arrays, so memory
grows with facts x layers x width at two positions.

Recorded, by probe family:
  lens, cka, svd   resid_last, resid_subj  [L, N, H]  decoder-layer outputs (residual stream)
  ffn              gate_sign_subj [L, N, D] int8 (sign of the gate pre-activation),
                   inter_top_subj [L, N, k] (indices of the top-1% |intermediate activation|),
                   mlp_out_subj [L, N, H]
  neurons          neuron_contrib [N, L, D] float16: a_j * (W_down[:, j] . u_gold)
                   attn_gold, mlp_gold [N, L]: attention / MLP output . u_gold at the last token
  attention        attn_subj {layer: [N, heads, T]} attention of the subject query (eager attention)
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from pytest_qfacts.trace.layout import Layout, discover
from pytest_qfacts.trace.names import PROBES


@dataclass
class Trace:
    resid_last: np.ndarray | None = None
    resid_subj: np.ndarray | None = None
    gate_sign_subj: np.ndarray | None = None
    inter_top_subj: np.ndarray | None = None
    mlp_out_subj: np.ndarray | None = None
    neuron_contrib: np.ndarray | None = None
    attn_gold: np.ndarray | None = None
    mlp_gold: np.ndarray | None = None
    attn_subj: dict = field(default_factory=dict)
    attn_mask: np.ndarray | None = None
    has_subject: np.ndarray | None = None

    def arrays(self) -> dict[str, np.ndarray]:
        out = {k: v for k, v in self.__dict__.items() if isinstance(v, np.ndarray)}
        out.update({f"attn_subj.{layer}": v for layer, v in self.attn_subj.items()})
        return out


def _rows(tensor, positions):
    """``tensor[b, positions[b]]`` for [B, T, D] inputs; [B*T, D] inputs (OPT's MLP) are reshaped first."""
    import torch

    if tensor.dim() == 2:
        tensor = tensor.reshape(len(positions), -1, tensor.shape[-1])
    index = torch.arange(tensor.shape[0], device=tensor.device)
    return tensor[index, positions]


class Tracer:
    """Observer for ``score_items``: ``with Tracer(model, probes, n) as t: score_items(..., observer=t)``."""

    def __init__(self, model, probes, n_items: int, *, attention_layers=None):
        self.model = model
        self.probes = set(probes)
        unknown = self.probes - set(PROBES)
        if unknown:
            raise ValueError(f"unknown probe(s) {sorted(unknown)}; known: {', '.join(PROBES)}")
        self.layout: Layout = discover(model)
        self.n = n_items
        L = self.layout.n_layers
        self.attention_layers = sorted(set(attention_layers if attention_layers is not None else range(L)))
        self.trace = Trace()
        self._handles = []
        self._batch = None
        self._old_attn = None
        H = self.layout.unembed.weight.shape[1]
        D = self._d_ff()
        t = self.trace
        t.has_subject = np.zeros(n_items, dtype=bool)
        if self.probes & {"lens", "cka", "svd"}:
            t.resid_last = np.zeros((L, n_items, H), np.float32)
            t.resid_subj = np.zeros((L, n_items, H), np.float32)
        if "ffn" in self.probes:
            self.k_top = max(1, math.ceil(0.01 * D - 1e-9))
            t.gate_sign_subj = np.zeros((L, n_items, D), np.int8)
            t.inter_top_subj = np.zeros((L, n_items, self.k_top), np.int32)
            t.mlp_out_subj = np.zeros((L, n_items, H), np.float32)
        if "neurons" in self.probes:
            t.neuron_contrib = np.zeros((n_items, L, D), np.float16)
            t.attn_gold = np.zeros((n_items, L), np.float32)
            t.mlp_gold = np.zeros((n_items, L), np.float32)

    def _d_ff(self) -> int:
        from pytest_qfacts.quant.dense import dense_weight

        down = self.layout.down[0]
        w = dense_weight(down)  # a library-quantized layer's weight may be packed (bnb 4-bit) or absent (HQQ)
        return w.shape[1] if w.shape[0] == self.layout.unembed.weight.shape[1] else w.shape[0]

    # -- lifecycle ---------------------------------------------------------------
    def __enter__(self):
        lay = self.layout
        for l in range(lay.n_layers):
            self._handles.append(lay.layers[l].register_forward_hook(self._layer_hook(l)))
            if "ffn" in self.probes:
                self._handles.append(lay.gate[l].register_forward_hook(self._gate_hook(l)))
                self._handles.append(lay.mlp[l].register_forward_hook(self._mlp_hook(l)))
            if self.probes & {"ffn", "neurons"}:
                self._handles.append(lay.down[l].register_forward_pre_hook(self._down_hook(l)))
            if "neurons" in self.probes:
                self._handles.append(lay.mlp[l].register_forward_hook(self._gold_projection_hook(l, "mlp_gold")))
                if lay.attn[l] is not None:
                    self._handles.append(lay.attn[l].register_forward_hook(self._gold_projection_hook(l, "attn_gold")))
            if "attention" in self.probes and l in self.attention_layers and lay.attn[l] is not None:
                self._handles.append(lay.attn[l].register_forward_hook(self._attn_probs_hook(l)))
        if "attention" in self.probes:
            self._old_attn = getattr(self.model.config, "_attn_implementation", None)
            self.model.set_attn_implementation("eager")
        return self

    def __exit__(self, *exc):
        for handle in self._handles:
            handle.remove()
        self._handles = []
        if self._old_attn is not None:
            self.model.set_attn_implementation(self._old_attn)
        return False

    # -- per batch ---------------------------------------------------------------
    def before(self, batch, rows, mask) -> None:
        import torch

        width = mask.shape[1]
        last = [width - len(r.object_ids) for r in rows]
        subj = [width - len(r.input_ids) + r.subject_last if r.subject_last is not None else lp for r, lp in zip(rows, last)]
        self.trace.has_subject[batch] = [r.subject_last is not None for r in rows]
        device = mask.device
        self._batch = {
            "index": np.asarray(batch),
            "start": [width - len(r.input_ids) for r in rows],
            "last": torch.tensor(last, device=device),
            "subj": torch.tensor(subj, device=device),
            "mask": mask,
        }
        if "neurons" in self.probes:
            u = self.layout.unembed.weight[torch.tensor([r.object_ids[0] for r in rows], device=device)]
            norm_w = getattr(self.layout.final_norm, "weight", None)
            self._batch["u_gold"] = (u * norm_w if norm_w is not None else u).float()

    def after(self, batch, rows, outputs) -> None:
        self._batch = None

    # -- hooks ---------------------------------------------------------------------
    def _layer_hook(self, l):
        def hook(module, args, output):
            if self.trace.resid_last is None:
                return
            h = output[0] if isinstance(output, tuple) else output
            b = self._batch
            self.trace.resid_last[l, b["index"]] = _rows(h, b["last"]).float().cpu().numpy()
            self.trace.resid_subj[l, b["index"]] = _rows(h, b["subj"]).float().cpu().numpy()
        return hook

    def _gate_hook(self, l):
        def hook(module, args, output):
            b = self._batch
            self.trace.gate_sign_subj[l, b["index"]] = np.sign(_rows(output, b["subj"]).float().cpu().numpy()).astype(np.int8)
        return hook

    def _mlp_hook(self, l):
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            b = self._batch
            self.trace.mlp_out_subj[l, b["index"]] = _rows(out, b["subj"]).float().cpu().numpy()
        return hook

    def _down_hook(self, l):
        import torch

        def hook(module, args):
            a = args[0]
            b = self._batch
            if "ffn" in self.probes:
                top = torch.topk(_rows(a, b["subj"]).float().abs(), self.k_top, dim=-1).indices
                self.trace.inter_top_subj[l, b["index"]] = top.cpu().numpy()
            if "neurons" in self.probes:
                from pytest_qfacts.quant.dense import dense_weight

                w = dense_weight(module)  # dequantized when a library quantized the layer
                w = w if w.shape[0] == b["u_gold"].shape[1] else w.T  # -> [H, D]
                dot = b["u_gold"] @ w                                 # [B, D]: W_down[:, j] . u_gold
                contrib = _rows(a, b["last"]).float() * dot
                self.trace.neuron_contrib[b["index"], l] = contrib.cpu().numpy().astype(np.float16)
        return hook

    def _gold_projection_hook(self, l, name: str):
        """Record ``output . u_gold`` at the last token into ``trace.<name>[:, l]`` (attn_gold / mlp_gold)."""
        def hook(module, args, output):
            out = output[0] if isinstance(output, tuple) else output
            b = self._batch
            getattr(self.trace, name)[b["index"], l] = (_rows(out, b["last"]).float() * b["u_gold"]).sum(-1).cpu().numpy()
        return hook

    def _attn_probs_hook(self, l):
        def hook(module, args, output):
            if not isinstance(output, tuple) or len(output) < 2 or output[1] is None:
                return
            probs = output[1]  # [B, heads, T, T]
            b = self._batch
            subj = b["subj"].cpu().numpy()
            rows = probs[np.arange(probs.shape[0]), :, subj]  # [B, heads, T]
            store = self.trace.attn_subj.setdefault(l, {})
            for i, index in enumerate(b["index"]):  # keep the valid keys only: real tokens up to the query
                store[int(index)] = rows[i, :, b["start"][i]: subj[i] + 1].float().cpu().numpy()
        return hook
