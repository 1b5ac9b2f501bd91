"""The ``qfacts`` command, for work outside a test run.

    qfacts validate FILE...                         schema-check suites; exit 1 with the errors
    qfacts run --model M --quant R[,R] --suite S    score and compare, print the summary, write reports
    qfacts baseline --model M --suite S             store the reference's numbers for later gate runs
"""
from __future__ import annotations

import argparse
import sys


def _validate(args) -> int:
    from pytest_qfacts.errors import SuiteError
    from pytest_qfacts.suites import load_suite

    bad = 0
    for name in args.files:
        try:
            suite = load_suite(name)
        except SuiteError as err:
            bad += 1
            print(f"error: {err}", file=sys.stderr)
            continue
        print(f"ok: {name}: suite '{suite.name}', {len(suite.relations)} relations, {suite.n_facts} facts, {len(suite.items())} prompts")
    return 1 if bad else 0


def _run(args) -> int:
    from pytest_qfacts.errors import QFactsUsageError
    from pytest_qfacts.models.device import check_device, check_dtype
    from pytest_qfacts.report.json_report import write_report_dict
    from pytest_qfacts.report.terminal import format_table, report_rows
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings, parse_probes, parse_recipe_list
    from pytest_qfacts.suites import load_suite

    try:
        if args.html:  # before any model loads: say how to install matplotlib
            from pytest_qfacts.report.plots import require_matplotlib

            require_matplotlib("--html")
        settings = Settings(model=args.model, revision=args.revision, device=check_device(args.device),
                            dtype=check_dtype(args.dtype), batch_size=args.batch_size, quiet=args.quiet,
                            recipes=parse_recipe_list(args.quant, "--quant"),
                            probes=parse_probes(args.probes, "--probes"), trust_remote_code=args.trust_remote_code)
        suites = [load_suite(name) for name in args.suite.split(",") if name.strip()]
        session = QFactsSession(settings)
        session.spec  # resolve the model name now, with a clear error
        for suite in suites:
            for recipe in settings.recipes:
                session.compare(suite, recipe)
    except QFactsUsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    report = session.report()  # built once: the summary rows and both files come from it
    for line in format_table(report_rows(report["runs"])):
        print(line)
    if args.report:
        write_report_dict(args.report, report)
        print(f"qfacts: JSON report written to {args.report}")
    if args.html:
        from pytest_qfacts.report.html import write_html

        write_html(args.html, report)
        print(f"qfacts: HTML report written to {args.html}")
    session.close()
    return 0


def _baseline(args) -> int:
    import os
    import uuid

    from pytest_qfacts.errors import QFactsUsageError
    from pytest_qfacts.models.device import check_device, check_dtype
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings, parse_probes
    from pytest_qfacts.suites import load_suite

    try:
        settings = Settings(model=args.model, revision=args.revision, device=check_device(args.device),
                            dtype=check_dtype(args.dtype), batch_size=args.batch_size, quiet=args.quiet,
                            probes=parse_probes(args.probes, "--probes"), trust_remote_code=args.trust_remote_code,
                            lens_facts=args.lens_facts, tier=args.tier, smoke_facts=args.smoke_facts,
                            baseline_dir=args.dir, update_baseline=True, run_id=uuid.uuid4().hex)
        session = QFactsSession(settings)
        session.spec
        for name in [n.strip() for n in args.suite.split(",") if n.strip()]:
            suite = load_suite(name)
            if settings.tier == "smoke":
                suite = suite.sample(settings.smoke_facts)
            ref = session.reference_result(suite, settings.probes)
            size = os.path.getsize(ref.baseline_path)
            print(f"baseline: {ref.baseline_path} ({len(ref.scores)} prompts, {size / 1e6:.2f} MB, "
                  f"probes {','.join(settings.probes) or 'none'})")
    except QFactsUsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    session.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qfacts", description="Factual recall of quantized LLMs, outside pytest.")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="schema-check fact suites (YAML or LRE JSON files, or built-in names)")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(func=_validate)
    run = sub.add_parser("run", help="compare a model with its quantized recipes on suites, as the plugin does")
    run.add_argument("--model", required=True, help="alias, Hugging Face id, directory or .gguf file")
    run.add_argument("--quant", required=True, help="comma-separated recipes, e.g. rtn-w8g64,rtn-w4g64")
    run.add_argument("--suite", required=True, help="comma-separated built-in suites or suite files")
    run.add_argument("--revision")
    run.add_argument("--device", default="auto")
    run.add_argument("--dtype", default="auto")
    run.add_argument("--batch-size", type=int, default=16)
    run.add_argument("--probes", default="default")
    run.add_argument("--report", help="write the JSON report here")
    run.add_argument("--html", help="write the self-contained HTML report (plots; needs matplotlib) here")
    run.add_argument("--trust-remote-code", action="store_true")
    run.add_argument("-q", "--quiet", action="store_true")
    run.set_defaults(func=_run)
    base = sub.add_parser("baseline", help="store the reference model's numbers on suites, so gate runs need not load it")
    base.add_argument("--model", required=True, help="alias, Hugging Face id, directory or .gguf file")
    base.add_argument("--suite", required=True, help="comma-separated built-in suites or suite files")
    base.add_argument("--dir", default=".qfacts/baselines", help="baseline folder (default: .qfacts/baselines)")
    base.add_argument("--probes", default="default", help="probes to record: default, all, none, or NAME,NAME")
    base.add_argument("--lens-facts", type=int, default=32)
    base.add_argument("--tier", default="full", choices=("full", "smoke"))
    base.add_argument("--smoke-facts", type=int, default=10)
    base.add_argument("--revision")
    base.add_argument("--device", default="auto")
    base.add_argument("--dtype", default="auto")
    base.add_argument("--batch-size", type=int, default=16)
    base.add_argument("--trust-remote-code", action="store_true")
    base.add_argument("-q", "--quiet", action="store_true")
    base.set_defaults(func=_baseline)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
