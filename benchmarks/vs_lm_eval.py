"""End-to-end wall time: lm-evaluation-harness on the reference and the quantized model vs our gate with a stored baseline.

    pip install lm-eval==0.4.13      # not a dependency of pytest-qfacts; pin torch/transformers with -c
    python benchmarks/vs_lm_eval.py [--suite lre-landmark_in_country] [--recipe rtn-w4g64] [--limit N] [--repeats 1]

Both sides answer the same question on SmolLM2-135M (CPU, float32): does each model still
produce the suite's facts, before and after quantization?

(a) lm-eval: two ``lm_eval --model hf --model_args pretrained=DIR,dtype=float32 --device cpu
    --batch_size 16 --tasks qfacts_facts --include_path TASKDIR`` child processes, one on the
    reference folder (the dequantized GGUF, as pytest-qfacts caches it) and one on the quantized
    folder (the reference after ``pytest_qfacts.quant.quantize(model, RECIPE)``, fake-quant dense
    weights, ``save_pretrained``). ``qfacts_facts`` is a custom task written here from
    ``load_suite(SUITE).items()``: ``output_type: loglikelihood``, context = the prompt,
    continuation = ``" " + object``, metric ``acc`` = lm-eval's ``is_greedy`` (every object token
    is the argmax). Each child is timed from its process start to its exit; writing the two model
    folders and the task is untimed preparation.
(b) the gate: ``python -m pytest TEST --qfacts-model=smollm2-135m --qfacts-quant=RECIPE
    --qfacts-suite=SUITE --qfacts-baseline=require --qfacts-baseline-dir=DIR --qfacts-max-drop=1.0
    -q -p no:cacheprovider`` in a child process (as in ``benchmarks/baseline_gate.py``), after one
    untimed ``--qfacts-update-baseline`` run that writes the baseline and warms the GGUF and
    quantized-model caches.

With ``--limit N`` both sides use the suite's first N prompts (the gate reads them from a
``.qfacts.yaml`` written here, one ``prompt`` per fact). Each side runs ``--repeats`` times,
alternating; the median is reported. Target: (a) / (b) >= 3. The last line prints that ratio.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MODEL = "smollm2-135m"
TASK = "qfacts_facts"


def write_facts(items, tmp: Path, limited: bool, suite: str) -> str:
    """The task's JSONL (prompt, object) and, for a limited run, the gate's suite file; returns the gate's --qfacts-suite."""
    with open(tmp / "facts.jsonl", "w", encoding="utf-8") as f:
        for item in items:
            f.write(json.dumps({"prompt": item.prompt, "object": item.object}) + "\n")
    if not limited:
        return suite
    import yaml

    relations: dict[str, list[dict]] = {}
    for item in items:
        fact = {"prompt": item.prompt, "object": item.object}
        if item.aliases:
            fact["aliases"] = list(item.aliases)
        relations.setdefault(item.relation, []).append(fact)
    doc = {"qfacts": 1, "name": f"{suite}-first{len(items)}",
           "relations": [{"name": name, "facts": facts} for name, facts in relations.items()]}
    path = tmp / "limited.qfacts.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return str(path)


def write_task(tmp: Path) -> Path:
    """The lm-eval task folder: ``target_delimiter: ""`` so the continuation is exactly ``" " + object``."""
    task_dir = tmp / "lm_eval_task"
    task_dir.mkdir()
    (task_dir / f"{TASK}.yaml").write_text(
        f"task: {TASK}\n"
        "dataset_path: json\n"
        "dataset_kwargs:\n"
        f"  data_files:\n    test: {json.dumps(str(tmp / 'facts.jsonl'))}\n"
        "test_split: test\n"
        "output_type: loglikelihood\n"
        'doc_to_text: "{{prompt}}"\n'
        'doc_to_target: " {{object}}"\n'
        'target_delimiter: ""\n'
        "metric_list:\n"
        "  - metric: acc\n"
        "    aggregation: mean\n"
        "    higher_is_better: true\n",
        encoding="utf-8")
    return task_dir


def write_models(recipe: str, tmp: Path) -> tuple[Path, Path]:
    """(reference folder, quantized folder), both float32 safetensors with the tokenizer."""
    from transformers import AutoTokenizer

    from pytest_qfacts.models.loading import load_model
    from pytest_qfacts.models.registry import resolve_model
    from pytest_qfacts.quant import quantize

    loaded = load_model(resolve_model(MODEL), device="cpu", dtype="float32")
    ref_dir, quant_dir = tmp / "reference", tmp / "quantized"
    loaded.model.save_pretrained(ref_dir, safe_serialization=True)
    quantize(loaded.model, recipe, tokenizer=loaded.tokenizer, device="cpu")
    loaded.model.save_pretrained(quant_dir, safe_serialization=True)
    tokenizer = AutoTokenizer.from_pretrained(_converted_dir(loaded))  # as converted, without the scorer's left padding
    for d in (ref_dir, quant_dir):
        tokenizer.save_pretrained(d)
    loaded.release()
    return ref_dir, quant_dir


def _converted_dir(loaded) -> Path:
    """The safetensors folder pytest-qfacts converted the GGUF into (``<cache>/gguf/<fingerprint>/``)."""
    from pytest_qfacts.models.fingerprint import path_fingerprint
    from pytest_qfacts.models.loading import default_cache_dir

    return default_cache_dir() / "gguf" / path_fingerprint(loaded.spec.target)


def lm_eval_command() -> list[str]:
    script = Path(sys.executable).with_name("lm_eval")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "lm_eval"]


def run_lm_eval(model_dir: Path, task_dir: Path, out: Path, env: dict) -> tuple[float, float]:
    """(wall seconds from process start to exit, lm-eval's acc) of one lm-eval child."""
    cmd = [*lm_eval_command(), "--model", "hf", "--model_args", f"pretrained={model_dir},dtype=float32",
           "--device", "cpu", "--batch_size", "16", "--tasks", TASK, "--include_path", str(task_dir),
           "--output_path", str(out)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"lm_eval failed ({done.returncode}) on {model_dir}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    results = sorted(out.rglob("results_*.json"), key=lambda p: p.stat().st_mtime)
    if not results:
        sys.exit(f"lm_eval wrote no results_*.json under {out}:\n{done.stdout[-3000:]}")
    acc = json.loads(results[-1].read_text())["results"][TASK]["acc,none"]
    return wall, acc


def run_gate(args, suite: str, workdir: Path, env: dict, *extra: str) -> float:
    """Wall seconds of one gate run (``python -m pytest ...``) in a child process."""
    cmd = [sys.executable, "-m", "pytest", str(workdir / "test_gate_placeholder.py"), "-q", "-p", "no:cacheprovider",
           f"--qfacts-model={MODEL}", f"--qfacts-quant={args.recipe}", f"--qfacts-suite={suite}",
           f"--qfacts-baseline-dir={workdir / 'baselines'}", "--qfacts-max-drop=1.0", *extra]
    started = time.perf_counter()
    done = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"gate run failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="lre-landmark_in_country")
    parser.add_argument("--recipe", default="rtn-w4g64")
    parser.add_argument("--limit", type=int, default=0, help="first N prompts of the suite (0 = all)")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args()
    if importlib.util.find_spec("lm_eval") is None:
        sys.exit("lm_eval is not installed: pip install lm-eval==0.4.13 "
                 "(with -c constraints pinning your torch and transformers versions)")
    from pytest_qfacts.suites import load_suite

    if args.limit < 0 or args.repeats < 1:
        sys.exit(f"--limit must be >= 0 and --repeats >= 1, got --limit {args.limit} --repeats {args.repeats}")
    items = load_suite(args.suite).items()
    if args.limit:
        items = items[: args.limit]
    with tempfile.TemporaryDirectory(prefix="qfacts-vs-lm-eval-") as tmp_name:
        tmp = Path(tmp_name)
        env = dict(os.environ, HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_DATASETS_CACHE=str(tmp / "hf_datasets"),
                   TOKENIZERS_PARALLELISM="false")
        gate_suite = write_facts(items, tmp, bool(args.limit), args.suite)
        task_dir = write_task(tmp)
        (tmp / "test_gate_placeholder.py").write_text("def test_nothing():\n    assert True\n")
        print(f"suite {args.suite} ({len(items)} prompts), recipe {args.recipe}, SmolLM2-135M, CPU, "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared machine: timings are noisy)")
        print("writing the reference and quantized model folders (untimed) ...", flush=True)
        ref_dir, quant_dir = write_models(args.recipe, tmp)
        print("gate warm-up: --qfacts-update-baseline (untimed) ...", flush=True)
        run_gate(args, gate_suite, tmp, env, "--qfacts-update-baseline")
        lm_runs, gate_runs, accs = [], [], {}
        for r in range(args.repeats):
            total = 0.0
            for label, model_dir in (("reference", ref_dir), ("quantized", quant_dir)):
                wall, accs[label] = run_lm_eval(model_dir, task_dir, tmp / f"lm_eval_out_{r}_{label}", env)
                print(f"  lm-eval {label}: {wall:.1f} s, acc {accs[label]:.4f}", flush=True)
                total += wall
            lm_runs.append(total)
            gate_runs.append(run_gate(args, gate_suite, tmp, env, "--qfacts-baseline=require"))
            print(f"  gate with baseline: {gate_runs[-1]:.1f} s", flush=True)
        a, b = statistics.median(lm_runs), statistics.median(gate_runs)
        print(f"lm-eval acc (greedy object): reference {accs['reference']:.4f}, {args.recipe} {accs['quantized']:.4f}")
        print(f"(a) lm-eval, reference + quantized: {a:.1f} s (runs {', '.join(f'{t:.1f}' for t in lm_runs)})")
        print(f"(b) gate with stored baseline:      {b:.1f} s (runs {', '.join(f'{t:.1f}' for t in gate_runs)})")
        print(f"wall ratio (a) / (b) (target >= 3): {a / b:.2f}")


if __name__ == "__main__":
    main()
