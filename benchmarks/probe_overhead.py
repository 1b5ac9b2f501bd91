"""Probe overhead: scoring with every in-pass probe on, divided by a bare batched forward.

Same process, same model (SmolLM2-135M, CPU, float32), same facts, same length-sorted
token batches. "bare" is ``model(input_ids, attention_mask, position_ids)`` per batch;
"probed" is ``score_items`` under a ``Tracer`` with every in-pass probe (as ``measure`` runs
it), plus the probes' post-forward steps (the logit lens on the default 32 facts). The sides run interleaved, best of ``--repeat``;
peak memory is the largest RSS growth above the pre-run level (sampled every 5 ms).
The last line prints the wall ratio probed/bare (target <= 1.25).

    python benchmarks/probe_overhead.py [--suite lre-landmark_in_country] [--limit 300]
"""
from __future__ import annotations

import argparse
import threading
import time

from _common import bare_forward, load_facts


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class PeakRSS:
    """Context manager: ``.peak`` = max RSS growth (MB) while inside."""

    def __enter__(self):
        self.base, self.peak, self._stop = rss_mb(), 0.0, False
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()
        return self

    def _watch(self):
        while not self._stop:
            self.peak = max(self.peak, rss_mb() - self.base)
            time.sleep(0.005)

    def __exit__(self, *exc):
        self._stop = True
        self._thread.join()
        self.peak = max(self.peak, rss_mb() - self.base)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suite", default="lre-landmark_in_country")
    parser.add_argument("--limit", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--probes", default="all")
    args = parser.parse_args()

    import torch

    from pytest_qfacts.probes import get_probe
    from pytest_qfacts.scoring.scorer import score_items
    from pytest_qfacts.settings import parse_probes
    from pytest_qfacts.trace.lens import DEFAULT_MAX_FACTS
    from pytest_qfacts.trace.tracer import Tracer

    model, tok, items, padded = load_facts(args.model, args.suite, args.limit, args.batch_size)
    probes = parse_probes(args.probes)

    def bare():
        bare_forward(model, padded)

    in_pass = [get_probe(name) for name in probes if get_probe(name).in_pass]

    def probed():  # what measure() runs for the in-pass probes: hooks in the scoring forward, then the lens
        with Tracer(model, in_pass, len(items), lens_facts=DEFAULT_MAX_FACTS) as tracer:
            scores = score_items(model, tok, items, batch_size=args.batch_size, observer=tracer)
            tracer.finish(scores)

    sides = {"bare": bare, "probed": probed}
    best = {k: float("inf") for k in sides}
    peak = {k: 0.0 for k in sides}
    for fn in sides.values():
        fn()  # warm-up
    for _ in range(args.repeat):
        for name, fn in sides.items():
            with PeakRSS() as mem:
                start = time.perf_counter()
                fn()
                best[name] = min(best[name], time.perf_counter() - start)
            peak[name] = max(peak[name], mem.peak)
    n = len(items)
    print(f"model {args.model}, suite {args.suite}, {n} facts, batch {args.batch_size}, threads {torch.get_num_threads()}, probes {','.join(probes)}")
    for name in sides:
        print(f"{name:>7}: {best[name]:.2f} s ({n / best[name]:.1f} facts/s), peak RSS growth {peak[name]:.0f} MB")
    print(f"probe overhead ratio probed/bare: {best['probed'] / best['bare']:.3f}")


if __name__ == "__main__":
    main()
