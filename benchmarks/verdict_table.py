"""Measure the failure-mode evidence under RTN W8/W4/W3/W2 and print the docs table.

    python benchmarks/verdict_table.py [--out docs/verdict-table.md]

Models and suites: tiny-facts on tiny-facts-onehop; smollm2-135m on capitals and
lre-country_capital_city. Probes: the verdict's (lens, cka, ffn). The thresholds of
``metrics.verdict.VerdictThresholds`` were chosen from this table.
"""
from __future__ import annotations

import argparse
import time

RUNS = [("tiny-facts", "tiny-facts-onehop"), ("smollm2-135m", "capitals"), ("smollm2-135m", "lre-country_capital_city")]
RECIPES = ["rtn-w8g64", "rtn-w4g64", "rtn-w3g64", "rtn-w2g64"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out")
    args = parser.parse_args()
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings
    from pytest_qfacts.suites import load_suite

    header = ("model", "suite", "recipe", "ref top-1", "quant top-1", "accuracy ratio", "median rank q",
              "lens signal", "CKA min (last)", "gate flips", "verdict")
    rows = []
    for model, suite_name in RUNS:
        session = QFactsSession(Settings(model=model, quiet=True, probes=("lens", "cka", "ffn")))
        suite = load_suite(suite_name)
        for recipe in RECIPES:
            started = time.perf_counter()
            c = session.compare(suite, recipe)
            e = c.extras["verdict"]["evidence"]
            rows.append((model, suite_name, recipe, f"{c.summary.reference_top1:.1%}", f"{c.summary.quantized_top1:.1%}",
                         f"{e['accuracy_ratio']:.2f}", f"{e['median_rank_quantized']:.0f}", f"{e['lens_signal']:.2f}",
                         f"{e['cka_last_token_min']:.3f}", f"{e['gate_flip_rate_mean']:.3f}", c.extras["verdict"]["mode"]))
            print(" | ".join(rows[-1]), f"({time.perf_counter() - started:.0f} s)", flush=True)
        session.close()
    table = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + ["| " + " | ".join(r) + " |" for r in rows]
    text = "\n".join(table)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
