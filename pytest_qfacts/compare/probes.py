"""Comparing the traces of the reference and a quantized model: per-layer numbers and the verdict.

Input: two ``Trace`` objects (same facts, same order) and both models' lens stats.
Output: the report keys of the probe families (``layers.*``, ``neurons.*``,
``verdict.*``), computed with the pure functions of ``metrics/``.
"""
from __future__ import annotations

import numpy as np

from pytest_qfacts.metrics import attention, cka, ffn, lens, neurons, svd, verdict

LENS_TOPK = 10  # the gold token "is present" in a layer when its lens rank is <= 10


def jaccard_of_indices(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean over facts of |A ∩ B| / |A ∪ B| for index sets a, b of shape [L, N, k] -> [L]."""
    L, N, k = a.shape
    out = np.zeros(L)
    for l in range(L):
        inter = np.array([len(np.intersect1d(a[l, n], b[l, n])) for n in range(N)], float)
        out[l] = float(np.mean(inter / (2 * k - inter))) if N else 1.0
    return out


def _ragged(store: dict, n: int):
    """{fact: [heads, keys]} -> ([N, heads, Kmax] right-padded, mask [N, Kmax])."""
    heads = next(iter(store.values())).shape[0]
    width = max(v.shape[1] for v in store.values())
    arr = np.zeros((n, heads, width))
    mask = np.zeros((n, width), bool)
    for i, v in store.items():
        arr[i, :, : v.shape[1]] = v
        mask[i, : v.shape[1]] = True
    return arr, mask


def probe_report(ref, quant, ref_lens, quant_lens, *, ref_top1: np.ndarray, quant_top1: np.ndarray,
                 ref_rank: np.ndarray, quant_rank: np.ndarray, thresholds=None, probes=None) -> dict:
    """Every probe number both traces allow, plus ``verdict`` (mode, evidence, reasons).

    ``probes``: the probe names that ran (None: all); ``svd`` numbers only come with ``svd``.
    """
    out: dict = {}
    layers: dict = {}
    evidence: dict = {}
    ref_acc = float(np.mean(ref_top1)) if len(ref_top1) else 0.0
    evidence["accuracy_ratio"] = float(np.mean(quant_top1)) / ref_acc if ref_acc > 0 else (1.0 if not np.any(quant_top1) else float("inf"))
    evidence["median_rank_reference"] = float(np.median(ref_rank))
    evidence["median_rank_quantized"] = float(np.median(quant_rank))
    if ref_lens is not None and quant_lens is not None:
        covered = (ref_lens[1][0] >= 0) & (quant_lens[1][0] >= 0)  # facts the lens ran on (see trace.lens)
        ref_lens = (ref_lens[0][:, covered], ref_lens[1][:, covered])
        quant_lens = (quant_lens[0][:, covered], quant_lens[1][:, covered])
        layers["lens_rank_reference"] = lens.median_rank_per_layer(ref_lens[1]).tolist()
        layers["lens_rank_quantized"] = lens.median_rank_per_layer(quant_lens[1]).tolist()
        layers["lens_prob_reference"] = ref_lens[0].mean(1).tolist()
        layers["lens_prob_quantized"] = quant_lens[0].mean(1).tolist()
        out["lens"] = {
            "topk": LENS_TOPK, "facts": int(covered.sum()),
            "signal_reference": lens.lens_signal_fraction(ref_lens[1], LENS_TOPK),
            "signal_quantized": lens.lens_signal_fraction(quant_lens[1], LENS_TOPK),
            "first_layer_in_topk_reference": _median_layer(lens.first_layer_in_topk(ref_lens[1], LENS_TOPK)),
            "first_layer_in_topk_quantized": _median_layer(lens.first_layer_in_topk(quant_lens[1], LENS_TOPK)),
        }
        evidence["lens_signal"] = lens.lens_signal_ratio(ref_lens[1], quant_lens[1], LENS_TOPK)
    if ref.resid_last is not None and quant.resid_last is not None:
        layers["cka_last_token"] = cka.cka_per_layer(ref.resid_last, quant.resid_last).tolist()
        layers["cka_subject"] = cka.cka_per_layer(ref.resid_subj, quant.resid_subj).tolist()
        layers["cka_matrix_last_token"] = cka.cka_matrix(ref.resid_last, quant.resid_last).tolist()
        layers["cka_matrix_subject"] = cka.cka_matrix(ref.resid_subj, quant.resid_subj).tolist()
        if probes is None or "svd" in probes:
            layers["svd_subspace_similarity"] = [svd.subspace_similarity(r, q) for r, q in zip(ref.resid_subj, quant.resid_subj)]
            layers["svd_error_alignment"] = [svd.error_subspace_alignment(r, q) for r, q in zip(ref.resid_subj, quant.resid_subj)]
        evidence["cka_last_token_min"] = verdict.cka_evidence(layers["cka_last_token"])
    if ref.gate_sign_subj is not None and quant.gate_sign_subj is not None:
        layers["gate_flip_rate"] = ffn.gate_sign_flip_rate(ref.gate_sign_subj, quant.gate_sign_subj).tolist()
        layers["ffn_top1pct_jaccard"] = jaccard_of_indices(ref.inter_top_subj, quant.inter_top_subj).tolist()
        layers["mlp_output_cosine"] = ffn.output_cosine(ref.mlp_out_subj, quant.mlp_out_subj).tolist()
        evidence["gate_flip_rate_mean"] = float(np.mean(layers["gate_flip_rate"]))
    if ref.attn_subj and quant.attn_subj:
        n = len(ref_top1)
        ent_r, ent_q, jsd = [], [], []
        for layer in sorted(ref.attn_subj):
            a_r, mask = _ragged(ref.attn_subj[layer], n)
            a_q, _ = _ragged(quant.attn_subj[layer], n)
            ent_r.append(attention.normalized_attention_entropy(a_r, mask))
            ent_q.append(attention.normalized_attention_entropy(a_q, mask))
            jsd.append(attention.attention_jsd(a_r, a_q, mask))
        layers["attention_layers"] = sorted(ref.attn_subj)
        layers["attention_entropy_reference"] = ent_r
        layers["attention_entropy_quantized"] = ent_q
        layers["attention_jsd"] = jsd
    if ref.neuron_contrib is not None and quant.neuron_contrib is not None:
        rc, qc = ref.neuron_contrib.astype(np.float32), quant.neuron_contrib.astype(np.float32)
        tau = neurons.top_neuron_threshold(rc)
        top_set = neurons.top_neuron_mask(rc)
        count = neurons.effective_top(rc.shape[1] * rc.shape[2])
        retained = neurons.retained_count(qc, tau, within=top_set)
        out["neurons"] = {
            "tau": float(np.median(tau)), "reference_count": int(count),
            "retained": float(np.mean(retained)), "retained_fraction": float(np.mean(retained) / count),
            "retained_anywhere": float(np.mean(neurons.retained_count(qc, tau))),
        }
        layers["ffn_contribution_reference"] = neurons.layer_contribution(ref.mlp_gold).tolist()
        layers["ffn_contribution_quantized"] = neurons.layer_contribution(quant.mlp_gold).tolist()
        layers["attn_contribution_reference"] = neurons.layer_contribution(ref.attn_gold).tolist()
        layers["attn_contribution_quantized"] = neurons.layer_contribution(quant.attn_gold).tolist()
        layers["ffn_contribution_drop"] = neurons.contribution_drop(ref.mlp_gold, quant.mlp_gold).tolist()
        layers["attn_contribution_drop"] = neurons.contribution_drop(ref.attn_gold, quant.attn_gold).tolist()
    mode, reasons = verdict.failure_mode(evidence, thresholds)
    out["verdict"] = {"mode": mode, "evidence": evidence, "reasons": reasons}
    out["layers"] = layers
    return out


def _median_layer(first: np.ndarray) -> float | None:
    present = first[first >= 0]
    return float(np.median(present)) if present.size else None
