"""Every quantization recipe on one model and a few LRE suites, on CPU: the recipe table of docs/recipes.md.

    python benchmarks/recipe_table.py [--model smollm2-135m] [--suites lre-a,lre-b] [--recipes r1,r2]
                                      [--calibration-samples 16] [--calibration-length 256] [--threads N]
                                      [--out table.md]

For each recipe (default: ``DEFAULT_RECIPES`` plus the first example of any registered
backend they do not cover, so a new backend shows up by itself), pooled over the suites'
prompts: the reference's and the quantized model's top-1, the facts lost (right in the
reference, wrong quantized), the mean KL divergence of the next-token distribution at the
last prompt position, ``KL(p_ref || p_quant)`` in nats (``metrics/divergence.py``), the
bytes of weights as the backend reports them (``QuantResult.weight_bytes``) and the
seconds it took to quantize. Quantization runs with the quantized-model cache off, so the
seconds are measured, not read back. A recipe that cannot run here (library missing, no
CPU kernel, a refusal) gets a row that says why. Probes are off; the table is about recall.
``--threads``: torch's intra-op threads (``torch.set_num_threads``); on a shared CPU, 1 avoids the
OpenMP spin-waiting that makes a loaded 2-core machine several times slower.
"""
from __future__ import annotations

import argparse
import time

DEFAULT_SUITES = ["lre-country_capital_city", "lre-country_language", "lre-country_currency",
                  "lre-country_largest_city", "lre-city_in_country", "lre-food_from_country"]
DEFAULT_RECIPES = ["rtn-w8g64", "rtn-w4g64", "rtn-w2g64", "bnb-int8", "bnb-nf4", "bnb-fp4", "gptq-w4g64",
                   "awq-w4g64", "hqq-w4g64", "torchao-int8wo", "torchao-int4wo-g64", "quanto-int8", "quanto-int4"]


def default_recipes() -> list[str]:
    """DEFAULT_RECIPES, plus the first example recipe of every registered backend none of them uses."""
    from pytest_qfacts.quant import BACKENDS, parse_recipe

    recipes = list(DEFAULT_RECIPES)
    covered = set()
    for text in recipes:
        try:
            covered.add(parse_recipe(text).backend)
        except Exception:  # noqa: BLE001 -- an unregistered backend's recipe: its row will say so
            pass
    for backend in BACKENDS:
        if backend.name not in covered and backend.examples:
            recipes.append(backend.examples[0])
    return recipes


def last_position_logits(model, tokenizer, items, batch_size: int = 16):
    """Full-vocabulary logits [N, V] (float32 numpy) at each prompt's last token, in ``items`` order."""
    import numpy as np
    import torch

    from pytest_qfacts.scoring.batching import left_pad, length_sorted_batches
    from pytest_qfacts.scoring.encode import encode_items

    prompts = [e.prompt_ids for e in encode_items(tokenizer, items)]
    device = next(model.parameters()).device
    out = None
    with torch.inference_mode():
        for batch in length_sorted_batches([len(p) for p in prompts], batch_size):
            ids, mask, positions = left_pad([prompts[i] for i in batch], tokenizer.pad_token_id, device)
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, logits_to_keep=1,
                           use_cache=False).logits[:, -1].float().cpu().numpy()
            if out is None:
                out = np.zeros((len(prompts), logits.shape[-1]), dtype=np.float32)
            out[batch] = logits
    return out


def measure(session, suites, recipe: str, reference_logits: dict) -> dict:
    """One row: pooled recall over ``suites``, mean KL, bytes and seconds of ``recipe``."""
    import numpy as np

    from pytest_qfacts.metrics.divergence import next_token_kl

    ref_right = quant_right = lost = n = 0
    kls = []
    for suite in suites:
        comparison = session.compare(suite, recipe, probes="none")
        ref_right += int(comparison.reference.top1.sum())
        quant_right += int(comparison.quantized.top1.sum())
        lost += comparison.summary.lost
        n += comparison.summary.n
        loaded, result = session.quantized(recipe)
        logits = last_position_logits(loaded.model, loaded.tokenizer, suite.items())
        kls.append(next_token_kl(reference_logits[suite.name], logits))
    return {"recipe": recipe, "library": f"{result.library} {result.library_version}", "n": n,
            "ref": ref_right / n, "quant": quant_right / n, "lost": lost, "kl": float(np.mean(np.concatenate(kls))),
            "bytes": result.weight_bytes, "seconds": result.seconds, "note": _note(result)}


def _note(result) -> str:
    info = result.info
    parts = []
    if "calibration" in info:
        c = info["calibration"]
        parts.append(f"calibration {c['samples']}x{c['length']} tokens")
    for key in ("quant_dtype", "compute_dtype"):
        if key in info:
            parts.append(f"{key.replace('_', ' ')} {info[key]}")
    return ", ".join(parts)


def why(err: Exception) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text}"[:300].replace("|", "/")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suites", default=",".join(DEFAULT_SUITES))
    parser.add_argument("--recipes", default=None, help="comma-separated (default: every backend's, see the docstring)")
    parser.add_argument("--calibration-samples", type=int, default=16)
    parser.add_argument("--calibration-length", type=int, default=256)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--out")
    args = parser.parse_args()
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)

    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings
    from pytest_qfacts.suites import load_suite

    recipes = args.recipes.split(",") if args.recipes else default_recipes()
    suites = [load_suite(name) for name in args.suites.split(",")]
    session = QFactsSession(Settings(model=args.model, device="cpu", dtype="float32", quiet=True, probes=(),
                                     no_cache=True, calibration_samples=args.calibration_samples,
                                     calibration_length=args.calibration_length))
    started = time.perf_counter()
    reference = session.reference()
    reference_logits = {s.name: last_position_logits(reference.model, reference.tokenizer, s.items()) for s in suites}
    rows = []
    for recipe in recipes:
        t0 = time.perf_counter()
        try:
            rows.append(measure(session, suites, recipe, reference_logits))
        except Exception as err:  # noqa: BLE001 -- a recipe that cannot run here gets a row saying why
            rows.append({"recipe": recipe, "error": why(err)})
        finally:
            session.release_quantized()
        print(_row(rows[-1]), f"({time.perf_counter() - t0:.0f} s)", flush=True)
    session.close()
    n = sum(len(s.items()) for s in suites)
    head = (f"{args.model} on {len(suites)} LRE suites ({', '.join(s.name for s in suites)}; {n} prompts), "
            f"CPU ({torch.get_num_threads()} torch thread(s)), float32 reference; "
            f"GPTQ/AWQ calibration {args.calibration_samples} x {args.calibration_length} tokens of the built-in text; "
            f"total {time.perf_counter() - started:.0f} s")
    header = ("recipe", "library", "ref top-1", "quant top-1", "lost", "KL (nats)", "weights (MB)", "quantize (s)", "note")
    table = [head, "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    table += [_row(r) for r in rows]
    text = "\n".join(table)
    print(text)
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(text + "\n")


def _row(r: dict) -> str:
    if "error" in r:
        return f"| {r['recipe']} | | | | | | | | cannot run here: {r['error']} |"
    return (f"| {r['recipe']} | {r['library']} | {r['ref']:.1%} | {r['quant']:.1%} | {r['lost']} | {r['kl']:.3f} | "
            f"{r['bytes'] / 1e6:.1f} | {r['seconds']:.1f} | {r['note']} |")


if __name__ == "__main__":
    main()
