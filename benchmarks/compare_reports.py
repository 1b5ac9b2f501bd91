"""Compare two qfacts JSON reports number by number; the last line is the largest difference.

    python benchmarks/compare_reports.py BEFORE.json AFTER.json [--tolerance 1e-6]

Pairs runs by (model, recipe, suite hash) and walks both entries: accuracies, ranks, CKA,
verdicts and every other number or string. Keys present on one side only are listed (a new
block is not a difference in what was measured); differing strings (a verdict) are listed.
Exit 1 when a number differs by more than the tolerance or a string differs.

Used for the pipeline rewrite (issue 10): reports of the same commands before and after on
``examples/`` and the built-in suites must agree.
"""
from __future__ import annotations

import argparse
import json
import math
import sys

IGNORED = {"seconds", "path", "worker", "workers", "quant"}   # wall times, file paths, timing metadata


def _walk(a, b, where: str, out: dict) -> None:
    ignored = IGNORED | out["ignore"]
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key in ignored:
                continue
            if key not in a or key not in b:
                out["one_side"].append(f"{where}.{key} ({'after' if key in b else 'before'} only)")
                continue
            _walk(a[key], b[key], f"{where}.{key}", out)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out["strings"].append(f"{where}: length {len(a)} vs {len(b)}")
            return
        for i, (x, y) in enumerate(zip(a, b)):
            _walk(x, y, f"{where}[{i}]", out)
    elif isinstance(a, bool) or isinstance(b, bool) or isinstance(a, str) or isinstance(b, str) or a is None or b is None:
        if a != b:
            out["strings"].append(f"{where}: {a!r} vs {b!r}")
    else:
        diff = abs(float(a) - float(b)) if math.isfinite(float(a)) and math.isfinite(float(b)) else (
            0.0 if str(a) == str(b) else math.inf)
        if diff > out["largest"][0]:
            out["largest"] = (diff, where)


def compare(before: dict, after: dict, ignore=()) -> dict:
    out = {"largest": (0.0, ""), "strings": [], "one_side": [], "unpaired": [], "ignore": set(ignore)}
    key = lambda r: (r["model"], r["recipe"], r["suite_hash"])  # noqa: E731
    b_runs, a_runs = {key(r): r for r in before["runs"]}, {key(r): r for r in after["runs"]}
    for k in sorted(set(b_runs) | set(a_runs)):
        if k not in b_runs or k not in a_runs:
            out["unpaired"].append(k)
            continue
        _walk(b_runs[k], a_runs[k], f"{k[1]}/{b_runs[k]['suite']}", out)
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--tolerance", type=float, default=1e-6)
    parser.add_argument("--ignore", action="append", default=[], help="a key to skip wherever it occurs (repeatable)")
    args = parser.parse_args(argv)
    with open(args.before, encoding="utf-8") as f:
        before = json.load(f)
    with open(args.after, encoding="utf-8") as f:
        after = json.load(f)
    out = compare(before, after, args.ignore)
    for line in out["unpaired"]:
        print(f"unpaired run: {line}")
    for line in out["strings"]:
        print(f"differs: {line}")
    for line in out["one_side"][:20]:
        print(f"key on one side: {line}")
    if len(out["one_side"]) > 20:
        print(f"... {len(out['one_side']) - 20} more keys on one side")
    diff, where = out["largest"]
    print(f"largest numeric difference: {diff:.3g} at {where or '-'}")
    return 1 if diff > args.tolerance or out["strings"] or out["unpaired"] else 0


if __name__ == "__main__":
    sys.exit(main())
