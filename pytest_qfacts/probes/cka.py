"""Probe ``cka``: linear CKA between reference and quantized residual streams (paper 003, section 3.3).

Records the residual stream (``probes/residual.py``). Report: ``layers.cka_last_token``,
``layers.cka_subject`` (per layer, CKA(X_l, Y_l) over facts), ``layers.cka_matrix_*``
(layer x layer); evidence ``cka_last_token_min`` (NaN-ignoring minimum over layers).
Formula in ``metrics/cka.py``. Assertion: ``assert_cka_above``.
"""
from __future__ import annotations

from pytest_qfacts.metrics import cka, verdict
from pytest_qfacts.probes.base import Probe, ProbeBlock, ProbeGateFailure, header, need_block
from pytest_qfacts.probes.residual import RESIDUAL, RESIDUAL_ARRAYS, RESIDUAL_STORAGE

MAX_LISTED_LAYERS = 12  # layers named in a failure message


def _compare(ref, quant) -> ProbeBlock:
    r, q = ref.arrays, quant.arrays
    layers = {
        "cka_last_token": cka.cka_per_layer(r["resid_last"], q["resid_last"]).tolist(),
        "cka_subject": cka.cka_per_layer(r["resid_subj"], q["resid_subj"]).tolist(),
        "cka_matrix_last_token": cka.cka_matrix(r["resid_last"], q["resid_last"]).tolist(),
        "cka_matrix_subject": cka.cka_matrix(r["resid_subj"], q["resid_subj"]).tolist(),
    }
    return ProbeBlock(layers, None, {"cka_last_token_min": verdict.cka_evidence(layers["cka_last_token"])})


def assert_cka_above(result, floor: float = 0.8, layers=None, position: str = "last_token") -> None:
    """Fail when the linear CKA between reference and quantized activations is below ``floor``.

    ``position``: ``last_token`` or ``subject`` (probe ``cka``); ``layers``: indices to check
    (default all; negative indices count from the end).
    """
    key = {"last_token": "cka_last_token", "subject": "cka_subject"}.get(position)
    if key is None:
        raise ValueError(f"position must be 'last_token' or 'subject', got {position!r}")
    values = need_block(result, "layers", key, "cka")
    n = len(values)
    chosen = list(range(n)) if layers is None else [l % n for l in layers]
    broken = [(l, values[l]) for l in chosen if values[l] < floor]
    if broken:
        shown = ", ".join(f"layer {l}: {v:.3f}" for l, v in broken[:MAX_LISTED_LAYERS])
        more = f" (+{len(broken) - MAX_LISTED_LAYERS} more)" if len(broken) > MAX_LISTED_LAYERS else ""
        raise ProbeGateFailure(f"qfacts: CKA ({position}) below floor {floor} for {header(result)} in "
                               f"{len(broken)} of {len(chosen)} layers: {shown}{more}")


PROBE = Probe(
    name="cka", summary="linear CKA of the residual stream per layer (last token, subject) and layer x layer",
    recordings=(RESIDUAL,), storage=RESIDUAL_STORAGE, compare=_compare, assertion=assert_cka_above,
    arrays=RESIDUAL_ARRAYS,
)
