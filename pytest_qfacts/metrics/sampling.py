"""Deterministic subsets of facts (the logit lens and activation patching cover a bounded subset)."""
from __future__ import annotations

import numpy as np

from pytest_qfacts.suites.schema import evenly_spaced as _evenly_spaced_items


def evenly_spaced(n: int, max_count: int | None) -> np.ndarray:
    """Indices of at most ``max_count`` of ``n`` items, evenly spaced and deterministic:
    ``round(i * (n - 1) / (max_count - 1))`` (``suites.schema.evenly_spaced`` on ``range(n)``, the one
    implementation), so the first and the last are always in; every index when ``max_count`` is None
    or 0, or ``n <= max_count``."""
    if max_count is not None and max_count < 0:
        raise ValueError(f"max_count must be >= 0, got {max_count}")
    return np.asarray(_evenly_spaced_items(range(n), max_count or None), dtype=np.int64)
