"""The JSON report: ``{"qfacts_report": 1, "runs": [...]}``, one run per (model, recipe, suite).

Written atomically (``pytest_qfacts.atomic``: staged in ``.qfacts-tmp/`` beside it, then
``os.replace``), so a reader never sees half a report.
"""
from __future__ import annotations

import json
import math
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
    return {"qfacts_report": REPORT_VERSION, "complete": True, "runs": _clean(out)}


def merge_runs(runs: list[dict]) -> list[dict]:
    """Merge report entries of the same (model, recipe, suite hash) computed by several xdist workers.

    The first entry is kept; gates combine (passed only if every worker's passed; counts add);
    ``workers`` lists, per worker, where its reference came from and whether it wrote the baseline.
    """
    merged: dict[tuple, dict] = {}
    for run in runs:
        key = (run.get("model"), run.get("recipe"), run.get("suite_hash"))
        worker = run.pop("worker", None)
        seen = {"worker": worker, "reference_source": run.get("reference", {}).get("source"),
                "baseline_written": bool(run.get("baseline", {}).get("written"))}
        if key not in merged:
            merged[key] = run
            if worker is not None:
                run["workers"] = [seen]
            continue
        first = merged[key]
        if worker is not None:
            first.setdefault("workers", []).append(seen)
        if "gate" in run:
            gate = first.setdefault("gate", {"passed": True, "checked": 0, "failed": 0})
            gate["passed"] = gate["passed"] and run["gate"]["passed"]
            gate["checked"] += run["gate"]["checked"]
            gate["failed"] += run["gate"]["failed"]
    return list(merged.values())


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (``pytest_qfacts.atomic``: staged beside it, then renamed)."""
    from pytest_qfacts.atomic import atomic_write_text as write

    write(path, text)


def write_report_dict(path: str | Path, report: dict) -> None:
    atomic_write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
