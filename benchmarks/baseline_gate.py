"""A gate run with a stored baseline vs the same gate without one: wall time and peak memory.

    python benchmarks/baseline_gate.py [--suite lre-landmark_in_country] [--recipe rtn-w4g64] [--repeats 2]

Both gates are the same pytest command on SmolLM2-135M (``--qfacts-suite=SUITE``, one
recipe, the default probes), run as child processes of this script, alternating, each
``--repeats`` times (median wall time, largest peak RSS). First, untimed, the baseline
is written with ``--qfacts-update-baseline`` and the quantized-model and GGUF caches are
warmed, so both gates find the same caches; the only difference is
``--qfacts-baseline=off`` vs ``--qfacts-baseline=require``. Target: ratio <= 0.55.
The last line prints the ratio.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHILD = r"""
import resource, sys, pytest
code = pytest.main(sys.argv[2:])
with open(sys.argv[1], "w") as f:
    f.write(str(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss))
sys.exit(code)
"""


def gate(args, workdir: Path, *extra: str) -> tuple[float, float]:
    """(wall seconds, peak RSS MiB) of one gate run in a child process."""
    rss_file = workdir / "rss.txt"
    test = workdir / "test_gate_placeholder.py"
    cmd = [sys.executable, "-c", CHILD, str(rss_file), str(test), "-q", "-p", "no:cacheprovider",
           "--qfacts-model=smollm2-135m", f"--qfacts-quant={args.recipe}", f"--qfacts-suite={args.suite}",
           f"--qfacts-baseline-dir={workdir / 'baselines'}", "--qfacts-max-drop=1.0", *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"gate run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall, int(rss_file.read_text()) / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="lre-landmark_in_country")
    parser.add_argument("--recipe", default="rtn-w4g64")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qfacts-bench-") as tmp:
        workdir = Path(tmp)
        (workdir / "test_gate_placeholder.py").write_text("def test_nothing():\n    assert True\n")
        print(f"suite {args.suite}, recipe {args.recipe}, SmolLM2-135M, CPU, {os.cpu_count()} cores")
        print("warming caches and writing the baseline (untimed) ...", flush=True)
        gate(args, workdir, "--qfacts-update-baseline")
        size = sum(p.stat().st_size for p in (workdir / "baselines").rglob("*.safetensors"))
        print(f"baseline: {size / 1e6:.1f} MB")
        without, with_ = [], []
        for _ in range(args.repeats):
            without.append(gate(args, workdir, "--qfacts-baseline=off"))
            with_.append(gate(args, workdir, "--qfacts-baseline=require"))
        w0, w1 = statistics.median(t for t, _ in without), statistics.median(t for t, _ in with_)
        m0, m1 = max(m for _, m in without), max(m for _, m in with_)
        print(f"without baseline: wall {w0:.1f} s (runs {', '.join(f'{t:.1f}' for t, _ in without)}), peak RSS {m0:.0f} MiB")
        print(f"with baseline:    wall {w1:.1f} s (runs {', '.join(f'{t:.1f}' for t, _ in with_)}), peak RSS {m1:.0f} MiB")
        print(f"peak memory ratio (with / without): {m1 / m0:.3f}")
        print(f"wall ratio (with baseline / without, target <= 0.55): {w1 / w0:.3f}")


if __name__ == "__main__":
    main()
