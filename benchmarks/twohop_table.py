"""Measure the two-hop numbers (docs/twohop.md) and print them as Markdown tables.

    python benchmarks/twohop_table.py [--report twohop-report.json] [--out table.md]

Runs: tiny-facts on tiny-facts-twohop (all 2400 items) and smollm2-135m on lre-twohop
(384 items), each for the reference, rtn-w4g64 and rtn-w2g64 (plus rtn-w8g64 as a
control), through ``QFactsSession.compare`` exactly as a test would (probes off: the
two-hop block does not need them). Prints, per model and recipe, the three accuracies,
CnstScore, the Spearman of first-hop vs two-hop drop, and EntRec per layer (every
layer for tiny-facts; a few for SmolLM2, with the reference's peak layer). ``--report``
writes the JSON report of every run (the ``twohop`` block is in each run).
"""
from __future__ import annotations

import argparse
import time

RUNS = [("tiny-facts", "tiny-facts-twohop"), ("smollm2-135m", "lre-twohop")]
RECIPES = ["rtn-w8g64", "rtn-w4g64", "rtn-w2g64"]


def _layers(n: int, peak: int) -> list[int]:
    picked = {0, n // 4, n // 2, (3 * n) // 4, n - 1, peak}
    return sorted(l for l in picked if 0 <= l < n)


def _pct(x: float) -> str:
    return f"{x:.1%}"


def table(model: str, suite: str, blocks: dict[str, dict]) -> str:
    """Markdown: one row for the reference and one per recipe."""
    first = next(iter(blocks.values()))
    n_layers = len(first["entrec"]["reference"])
    layers = _layers(n_layers, first["entrec"]["peak_layer"])
    head = ["model version", "r1(e1)", "r2(e2)", "r2(r1(e1))", "CnstScore"] + \
           [f"EntRec L{l}" + (" (peak)" if l == first["entrec"]["peak_layer"] else "") for l in layers] + \
           ["Spearman d1~d2"]
    rows = [["reference", _pct(first["r1_e1"]["reference"]), _pct(first["r2_e2"]["reference"]),
             _pct(first["r2_r1_e1"]["reference"]), f"{first['cnstscore']['reference']:.2f}"]
            + [f"{first['entrec']['reference'][l]:.2f}" for l in layers] + ["–"]]
    for recipe, b in blocks.items():
        rho = b["spearman_first_hop"]
        rows.append([recipe, _pct(b["r1_e1"]["quantized"]), _pct(b["r2_e2"]["quantized"]), _pct(b["r2_r1_e1"]["quantized"]),
                     f"{b['cnstscore']['quantized']:.2f}"] + [f"{b['entrec']['quantized'][l]:.2f}" for l in layers]
                    + ["undefined" if rho is None else f"{rho:+.2f}"])
    lines = [f"**{model}** on `{suite}` ({first['n']} two-hop items, {len(first['compositions'])} compositions, "
             f"EntRec at {first['entrec']['position']}, nats)", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--report", help="write the JSON report of every run here")
    parser.add_argument("--out", help="write the Markdown tables here")
    parser.add_argument("--models", default=",".join(m for m, _ in RUNS))
    parser.add_argument("--recipes", default=",".join(RECIPES))
    parser.add_argument("--batch-size", type=int, default=64, help="prompts per forward (results do not depend on it)")
    args = parser.parse_args()
    from pytest_qfacts.report.json_report import build_report, write_report_dict
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings
    from pytest_qfacts.suites import load_suite

    texts, runs = [], {}
    for model, suite_name in RUNS:
        if model not in args.models.split(","):
            continue
        session = QFactsSession(Settings(model=model, quiet=True, probes=(), batch_size=args.batch_size))
        suite = load_suite(suite_name)
        blocks = {}
        for recipe in args.recipes.split(","):
            started = time.perf_counter()
            c = session.compare(suite, recipe)
            blocks[recipe] = c.extras["twohop"]
            print(f"{model} {recipe}: {time.perf_counter() - started:.0f} s", flush=True)
        runs.update(session.runs)
        texts.append(table(model, suite_name, blocks))
        across = blocks[next(reversed(blocks))].get("spearman_first_hop_across_recipes")
        if across:
            rho = "undefined" if across["rho"] is None else f"{across['rho']:+.2f}"
            texts[-1] += (f"\n\nSpearman of first-hop vs two-hop accuracy drop over {across['points']} "
                          f"(composition, recipe) points: {rho}.")
        session.close()
    text = "\n\n".join(texts)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")
    if args.report:
        write_report_dict(args.report, build_report(runs))


if __name__ == "__main__":
    main()
