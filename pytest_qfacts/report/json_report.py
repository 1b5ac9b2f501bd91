"""The JSON report: ``{"qfacts_report": 1, "runs": [...]}``, one run per (model, recipe, suite).

Written atomically (a temporary file in the same directory, then ``os.replace``),
so a reader never sees half a report.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

REPORT_VERSION = 1


def _clean(value):
    """JSON has no NaN/inf: write them as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _clean(value.item())
    return value


def build_report(runs, gates: dict | None = None) -> dict:
    out = []
    for key, comparison in runs.items():
        entry = comparison.to_report()
        if gates and key in gates:
            entry["gate"] = gates[key]
        out.append(entry)
    return {"qfacts_report": REPORT_VERSION, "runs": _clean(out)}


def atomic_write_text(path: str | Path, text: str) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(path: str | Path, runs, gates: dict | None = None) -> None:
    atomic_write_text(path, json.dumps(build_report(runs, gates), indent=2, ensure_ascii=False) + "\n")
