"""Knowledge-neuron contributions to the gold token (direct logit attribution).

Follows paper 001, "Key Designs" 1 and 2: per-neuron contribution scores, a
threshold tau set by the full-precision model's top-300 FFN neurons, the count
of quantized neurons still above tau, and the per-layer attention vs FFN
contribution and its drop under quantization.

Contribution of FFN neuron j of layer l to the gold token, at the last prompt
token (the position that predicts the answer):

    c[l, j] = a[l, j] * (W_down_l[:, j] . u_gold)        (logit units, nats)

``a`` is the intermediate activation (after gating: ``act(gate(x)) * up(x)``,
the input of ``down_proj``), ``W_down_l[:, j]`` the j-th column of the down
projection ``[H, D]``, ``u_gold`` the gold token's unembedding row. This is
direct logit attribution (DLA): the neuron's additive share of the gold logit
through the residual stream, ignoring everything downstream of it except the
unembedding. Relation to the paper's score (the neuron's contribution to the
gold token's log-probability): ``log p_gold = z_gold - logsumexp(z)``, so DLA
(1) drops the softmax normaliser's change (a neuron that raises every logit
equally gets credit here but none in log-prob), and (2) treats the final
RMSNorm as linear. For (2) the caller should fold the norm weight ``g`` into
the unembedding (``u_eff = g * u_gold``, see ``down_proj_dot_gold``) and may
pass the per-fact scale ``1 / rms(x_final)`` of the final residual stream as
``norm_scale``; the ranking of neurons within one fact is unaffected by it.
Later layers also read the neuron's output; DLA ignores those indirect paths.

Arrays are fact-major: ``[N, L, D]`` (facts, layers, FFN width).
"""
from __future__ import annotations

import numpy as np

__all__ = [
    "down_proj_dot_gold",
    "neuron_contributions",
    "effective_top",
    "top_neuron_threshold",
    "top_neuron_mask",
    "retained_count",
    "retained_fraction",
    "layer_contribution",
    "contribution_drop",
]


def down_proj_dot_gold(down_proj, u_gold, final_norm_weight=None) -> np.ndarray:
    """``W_down_l[:, j] . u_gold[n]`` for every fact, layer and neuron: ``[N, L, D]``.

    ``down_proj``: ``[L, H, D]`` or a sequence of L ``[H, D]`` matrices (torch
    ``nn.Linear(D, H).weight`` layout). ``u_gold [N, H]``: unembedding rows of
    the gold tokens. ``final_norm_weight [H]``: if given, ``u_eff = g * u_gold``
    (folds the final RMSNorm/LayerNorm gain into the readout). Computed in the
    inputs' precision, at least float32 (float64 when ``u_gold`` is float64).
    """
    u = np.asarray(u_gold)
    dt = np.result_type(u.dtype, np.float32)
    u = u.astype(dt, copy=False)
    if u.ndim != 2:
        raise ValueError(f"u_gold must be [N, H], got shape {u.shape}")
    if final_norm_weight is not None:
        u = u * np.asarray(final_norm_weight, dtype=dt)[None, :]
    mats = [down_proj[i] for i in range(len(down_proj))]
    out = []
    for i, W in enumerate(mats):
        W = np.asarray(W).astype(dt, copy=False)
        if W.ndim != 2 or W.shape[0] != u.shape[1]:
            raise ValueError(f"down_proj[{i}] must be [H={u.shape[1]}, D], got shape {W.shape}")
        out.append(u @ W)  # [N, D]
    return np.stack(out, axis=1)


def neuron_contributions(act, down_dot_gold, norm_scale=None) -> np.ndarray:
    """Per-neuron direct logit attribution ``c = a * (W_down[:, j] . u_gold) [* s_n]``.

    ``act [N, L, D]`` intermediate activations at the last prompt token,
    ``down_dot_gold [N, L, D]`` (see ``down_proj_dot_gold``), optional
    ``norm_scale [N]`` = ``1 / rms(final residual)`` per fact. Returns
    ``[N, L, D]`` float64 in logit units (positive = promotes the gold token).
    """
    a = np.asarray(act, dtype=np.float64)
    w = np.asarray(down_dot_gold, dtype=np.float64)
    if a.ndim != 3 or a.shape != w.shape:
        raise ValueError(f"act and down_dot_gold must both be [N, L, D], got {a.shape} and {w.shape}")
    c = a * w
    if norm_scale is not None:
        s = np.asarray(norm_scale, dtype=np.float64).reshape(-1)
        if s.shape != (a.shape[0],):
            raise ValueError(f"norm_scale must be [N={a.shape[0]}], got shape {s.shape}")
        c *= s[:, None, None]
    return c


def _flat(contrib, name: str) -> np.ndarray:
    c = np.asarray(contrib, dtype=np.float64)
    if c.ndim != 3:
        raise ValueError(f"{name} must be [N, L, D], got shape {c.shape}")
    return c.reshape(c.shape[0], -1)


def effective_top(n_neurons: int, top: int = 300) -> int:
    """``min(top, n_neurons)``: tiny test models may have fewer than 300 FFN neurons."""
    if top < 1:
        raise ValueError(f"top must be >= 1, got {top}")
    return int(min(top, n_neurons))


def top_neuron_threshold(ref_contrib, top: int = 300) -> np.ndarray:
    """Per-fact threshold tau: the ``top``-th largest reference contribution, ``[N]``.

    Pooled over all layers and neurons of the fact (``L * D`` candidates),
    signed (largest = most gold-promoting), so the reference has at least
    ``top`` neurons with ``c >= tau`` (more only on exact ties). ``top`` is
    clamped by ``effective_top``. Per fact, because attribution is per prompt;
    aggregate the resulting counts over facts afterwards.
    """
    c = _flat(ref_contrib, "ref_contrib")
    t = effective_top(c.shape[1], top)
    return -np.partition(-c, t - 1, axis=1)[:, t - 1]


def top_neuron_mask(ref_contrib, top: int = 300) -> np.ndarray:
    """Boolean ``[N, L, D]``: the reference's top set, ``ref_contrib >= tau``."""
    c = np.asarray(ref_contrib, dtype=np.float64)
    tau = top_neuron_threshold(c, top)
    return c >= tau[:, None, None]


def retained_count(quant_contrib, tau, within=None, *, per_layer: bool = False) -> np.ndarray:
    """Number of quantized neurons whose contribution stays ``>= tau``: ``[N]`` int.

    ``quant_contrib [N, L, D]``, ``tau [N]`` from ``top_neuron_threshold`` on
    the reference. Default scope is every neuron of the quantized model
    (001: "count how many neurons in the quantized model still exceed this
    threshold"), so a quantized model that promotes other neurons above tau can
    score up to ``L * D``. Pass ``within=top_neuron_mask(ref_contrib)`` to
    count only the reference's top set (then the count is <= the set's size).
    ``per_layer=True`` returns ``[N, L]`` counts (where the neurons sit).
    """
    c = np.asarray(quant_contrib, dtype=np.float64)
    if c.ndim != 3:
        raise ValueError(f"quant_contrib must be [N, L, D], got shape {c.shape}")
    t = np.asarray(tau, dtype=np.float64).reshape(-1)
    if t.shape != (c.shape[0],):
        raise ValueError(f"tau must be [N={c.shape[0]}], got shape {t.shape}")
    hit = c >= t[:, None, None]
    if within is not None:
        w = np.asarray(within, dtype=bool)
        if w.shape != c.shape:
            raise ValueError(f"within must be [N, L, D] = {c.shape}, got shape {w.shape}")
        hit &= w
    return hit.sum(axis=2) if per_layer else hit.sum(axis=(1, 2))


def retained_fraction(quant_contrib, tau, top: int = 300, within=None) -> np.ndarray:
    """``retained_count / effective_top(L * D, top)`` per fact, ``[N]`` float64.

    1.0 = as many neurons above tau as the reference's top set. With the
    default scope (all neurons) it can exceed 1; with ``within`` it is <= 1
    unless the reference had ties at tau.
    """
    c = np.asarray(quant_contrib)
    n = retained_count(c, tau, within)
    return n / float(effective_top(c.shape[1] * c.shape[2], top))


def layer_contribution(proj, norm_scale=None) -> np.ndarray:
    """Mean over facts of a sublayer's gold-logit contribution: ``[N, L] -> [L]``.

    ``proj[n, l] = out_l . u_gold`` for the attention (or MLP) output vector of
    layer l at the last prompt token (logit units); optional ``norm_scale [N]``
    multiplies each fact as in ``neuron_contributions``.
    """
    p = np.asarray(proj, dtype=np.float64)
    if p.ndim != 2:
        raise ValueError(f"proj must be [N, L], got shape {p.shape}")
    if norm_scale is not None:
        s = np.asarray(norm_scale, dtype=np.float64).reshape(-1)
        if s.shape != (p.shape[0],):
            raise ValueError(f"norm_scale must be [N={p.shape[0]}], got shape {s.shape}")
        p = p * s[:, None]
    return p.mean(axis=0)


def contribution_drop(ref_proj, quant_proj, norm_scale_ref=None, norm_scale_quant=None) -> np.ndarray:
    """Per-layer drop of a sublayer's contribution: ``mean(ref) - mean(quant)``, ``[L]``.

    Inputs ``[N, L]`` as in ``layer_contribution`` (call once for attention,
    once for MLP). Positive = the quantized sublayer pushes the gold logit less
    (001 reports drops concentrated in the last layers); negative = a rise.
    """
    r = layer_contribution(ref_proj, norm_scale_ref)
    q = layer_contribution(quant_proj, norm_scale_quant)
    if r.shape != q.shape:
        raise ValueError(f"ref_proj and quant_proj have {r.shape[0]} and {q.shape[0]} layers")
    return r - q
