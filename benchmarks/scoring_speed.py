"""Scoring throughput vs a bare batched forward over the same facts (SmolLM2-135M, CPU).

Both sides see the same token batches (length-sorted, left-padded, same batch size).
"bare" is just ``model(input_ids, attention_mask, position_ids)`` per batch, full
logits, no post-processing; "qfacts" is ``score_items`` (encoding, ranks, top-k,
log-probs included). Each side runs ``--repeat`` times interleaved; the best time
counts. The last line prints the throughput ratio qfacts/bare (target >= 0.95).

    python benchmarks/scoring_speed.py [--suite lre-landmark_in_country] [--limit 400]
"""
from __future__ import annotations

import argparse
import time

from _common import bare_forward, load_facts


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suite", default="lre-landmark_in_country")
    parser.add_argument("--limit", type=int, default=400)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import torch

    from pytest_qfacts.scoring.scorer import score_items

    model, tok, items, padded = load_facts(args.model, args.suite, args.limit, args.batch_size)

    def bare() -> float:
        start = time.perf_counter()
        bare_forward(model, padded)
        return time.perf_counter() - start

    def ours() -> float:
        start = time.perf_counter()
        score_items(model, tok, items, batch_size=args.batch_size)
        return time.perf_counter() - start

    bare(), ours()  # warm-up
    times = {"bare": [], "qfacts": []}
    for _ in range(args.repeat):
        times["bare"].append(bare())
        times["qfacts"].append(ours())
    best = {k: min(v) for k, v in times.items()}
    n = len(items)
    print(f"model {args.model}, suite {args.suite}, {n} facts, batch {args.batch_size}, threads {torch.get_num_threads()}")
    for name, seconds in best.items():
        print(f"{name:>7}: {seconds:.2f} s  ({n / seconds:.1f} facts/s)")
    print(f"throughput ratio qfacts/bare: {best['bare'] / best['qfacts']:.3f}")


if __name__ == "__main__":
    main()
