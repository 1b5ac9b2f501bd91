"""Failure-mode verdict on hand-made evidence, including boundary cases."""
import dataclasses
import math

import pytest

from pytest_qfacts.metrics.verdict import (
    COMPUTATION_COLLAPSE,
    INTACT,
    SIGNAL_DEGRADATION,
    VerdictThresholds,
    cka_evidence,
    failure_mode,
)

T = VerdictThresholds()

INTACT_EV = dict(accuracy_ratio=0.99, median_rank_reference=1, median_rank_quantized=1,
                 lens_signal=1.0, cka_last_token_min=0.97, gate_flip_rate_mean=0.03)
DEGRADED_EV = dict(accuracy_ratio=0.8, median_rank_reference=1, median_rank_quantized=3,
                   lens_signal=0.9, cka_last_token_min=0.85, gate_flip_rate_mean=0.08)
COLLAPSE_EV = dict(accuracy_ratio=0.0, median_rank_reference=1, median_rank_quantized=12000,
                   lens_signal=0.02, cka_last_token_min=0.05, gate_flip_rate_mean=0.45)


def test_three_modes():
    assert failure_mode(INTACT_EV)[0] == INTACT
    assert failure_mode(DEGRADED_EV)[0] == SIGNAL_DEGRADATION
    assert failure_mode(COLLAPSE_EV)[0] == COMPUTATION_COLLAPSE


def test_reasons_name_numbers_and_thresholds():
    mode, reasons = failure_mode(COLLAPSE_EV)
    text = "\n".join(reasons)
    assert "accuracy_ratio=0 <= collapse_accuracy_ratio=0.1" in text
    assert "median_rank_quantized=1.2e+04 >= collapse_median_rank=1000" in text
    assert "lens_signal=0.02 <= collapse_lens_signal=0.25" in text
    assert "cka_last_token_min=0.05 <= collapse_cka=0.5" in text
    assert "gate_flip_rate_mean=0.45 >= collapse_gate_flip=0.3" in text
    assert reasons[-1].startswith("verdict computation_collapse")
    _, reasons = failure_mode(DEGRADED_EV)
    text = "\n".join(reasons)
    assert "accuracy_ratio=0.8 < intact_accuracy_ratio=0.95: top-1 recall weakened" in text
    assert "median_rank_quantized=3 > intact_rank_ratio=2 * max(1, median_rank_reference=1) = 2" in text
    assert "cka_last_token_min=0.85 > collapse_cka=0.5: representation structure preserved" in text


def test_boundaries_are_inclusive():
    # Exactly at the intact thresholds -> intact.
    ev = dict(INTACT_EV, accuracy_ratio=T.intact_accuracy_ratio, median_rank_quantized=2.0)
    assert failure_mode(ev)[0] == INTACT
    # Just below the accuracy threshold -> degradation.
    assert failure_mode(dict(ev, accuracy_ratio=0.9499))[0] == SIGNAL_DEGRADATION
    # Rank just above 2x the reference -> degradation.
    assert failure_mode(dict(ev, median_rank_quantized=2.01))[0] == SIGNAL_DEGRADATION
    # Exactly at the collapse thresholds -> collapse.
    ev = dict(DEGRADED_EV, cka_last_token_min=T.collapse_cka, accuracy_ratio=T.collapse_accuracy_ratio)
    assert failure_mode(ev)[0] == COMPUTATION_COLLAPSE
    ev = dict(DEGRADED_EV, gate_flip_rate_mean=T.collapse_gate_flip, lens_signal=T.collapse_lens_signal)
    assert failure_mode(ev)[0] == COMPUTATION_COLLAPSE
    ev = dict(DEGRADED_EV, gate_flip_rate_mean=0.2999, median_rank_quantized=T.collapse_median_rank)
    assert failure_mode(ev)[0] == SIGNAL_DEGRADATION  # structure not (yet) broken


def test_collapse_needs_both_structure_and_signal():
    # Structure broken but the gold signal still present -> not collapse.
    ev = dict(DEGRADED_EV, cka_last_token_min=0.2, gate_flip_rate_mean=0.4)
    mode, reasons = failure_mode(ev)
    assert mode == SIGNAL_DEGRADATION
    assert "rule 1 not met" in reasons[-1]
    # Signal gone but structure intact -> not collapse.
    ev = dict(COLLAPSE_EV, cka_last_token_min=0.9, gate_flip_rate_mean=0.05)
    assert failure_mode(ev)[0] == SIGNAL_DEGRADATION
    # Outcomes intact despite a structural anomaly -> intact.
    assert failure_mode(dict(INTACT_EV, cka_last_token_min=0.3))[0] == INTACT


def test_missing_evidence():
    # Only accuracy: no structure -> collapse iff every measured signal indicator is absent.
    assert failure_mode({"accuracy_ratio": 0.05})[0] == COMPUTATION_COLLAPSE
    assert failure_mode({"accuracy_ratio": 0.5})[0] == SIGNAL_DEGRADATION
    assert failure_mode({"accuracy_ratio": 1.0})[0] == INTACT
    ev = dict(accuracy_ratio=0.0, median_rank_quantized=5000, lens_signal=0.6)
    assert failure_mode(ev)[0] == SIGNAL_DEGRADATION  # lens still shows the signal
    ev = dict(COLLAPSE_EV, gate_flip_rate_mean=None, cka_last_token_min=float("nan"))
    mode, reasons = failure_mode(ev)
    assert mode == COMPUTATION_COLLAPSE
    assert "gate_flip_rate_mean: not measured" in reasons
    # Missing reference rank: limit is intact_rank_ratio * 1.
    mode, reasons = failure_mode(dict(accuracy_ratio=0.97, median_rank_quantized=2))
    assert mode == INTACT
    assert any("1 (reference not measured)" in r for r in reasons)


def test_invalid_evidence_raises():
    with pytest.raises(ValueError, match="accuracy_ratio"):
        failure_mode({"lens_signal": 1.0})
    with pytest.raises(ValueError, match="accuracy_ratio"):
        failure_mode({"accuracy_ratio": math.nan})
    with pytest.raises(ValueError, match="unknown evidence keys"):
        failure_mode(dict(INTACT_EV, cka_min=0.9))


def test_custom_thresholds():
    strict = dataclasses.replace(T, intact_accuracy_ratio=0.999)
    assert failure_mode(INTACT_EV, strict)[0] == SIGNAL_DEGRADATION
    lax = dataclasses.replace(T, collapse_cka=0.9, collapse_accuracy_ratio=0.85)
    assert failure_mode(DEGRADED_EV, lax)[0] == COMPUTATION_COLLAPSE


def test_cka_evidence():
    assert cka_evidence([0.99, 0.7, math.nan, 0.95]) == 0.7
    assert math.isnan(cka_evidence([]))
