"""Probe ``svd``: principal-subspace similarity and error alignment at the subject (paper 003, appendix B).

Records the residual stream (``probes/residual.py``); stored with its SVD basis so the
coordinates survive. Report: ``layers.svd_subspace_similarity``, ``layers.svd_error_alignment``
(formulas in ``metrics/svd.py``).
"""
from __future__ import annotations

from pytest_qfacts.metrics import svd
from pytest_qfacts.probes.base import Probe, ProbeBlock
from pytest_qfacts.probes.residual import RESIDUAL, RESIDUAL_ARRAYS, RESIDUAL_STORAGE


def _compare(ref, quant) -> ProbeBlock:
    pairs = list(zip(ref.arrays["resid_subj"], quant.arrays["resid_subj"]))
    return ProbeBlock({
        "svd_subspace_similarity": [svd.subspace_similarity(r, q) for r, q in pairs],
        "svd_error_alignment": [svd.error_subspace_alignment(r, q) for r, q in pairs],
    })


PROBE = Probe(
    name="svd", summary="subspace similarity and error alignment of the subject residual per layer",
    recordings=(RESIDUAL,), storage=RESIDUAL_STORAGE, compare=_compare, arrays=RESIDUAL_ARRAYS,
)
