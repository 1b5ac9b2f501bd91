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
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes the file private; a report is meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_report(path: str | Path, runs, gates: dict | None = None) -> None:
    write_report_dict(path, build_report(runs, gates))


def write_report_dict(path: str | Path, report: dict) -> None:
    atomic_write_text(path, json.dumps(report, indent=2, ensure_ascii=False) + "\n")
