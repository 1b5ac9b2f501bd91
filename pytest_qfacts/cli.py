"""The ``qfacts`` command, for work outside a test run.

    qfacts validate FILE...                         schema-check suites; exit 1 with the errors
    qfacts run --model M --quant R[,R] --suite S    score and compare, print the summary, write reports
    qfacts baseline --model M --suite S             store the reference's numbers for later gate runs
"""
from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

from pytest_qfacts.options import add_cli_arguments
from pytest_qfacts.outputs import CLI_BASELINE_OPTIONS, CLI_OPTIONS, check_settings_outputs

EXIT_GATE_FAILED = 1   # a gate failed (as pytest's exit code for failed tests)
EXIT_USAGE = 2         # bad input: an option, a file, a suite


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
        print(f"ok: {name}: suite '{suite.name}', {len(suite.relations)} relations, {suite.n_facts} facts, "
              f"{len(suite.items())} prompts")
    return 1 if bad else 0


def _run(args) -> int:
    from pytest_qfacts.errors import QFactsUsageError
    from pytest_qfacts.report.json_report import write_report_dict
    from pytest_qfacts.report.terminal import format_table, report_rows
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import settings_from_args
    from pytest_qfacts.suites import load_suite

    try:
        settings = settings_from_args(args, root=Path.cwd())  # --html first says how to install matplotlib
        check_settings_outputs(settings, options=CLI_OPTIONS)  # before any model loads
        suites = [load_suite(name) for name in args.suite.split(",") if name.strip()]
        session = QFactsSession(settings)
        _ = session.spec  # resolve the model name now, with a clear error
        failures = []
        for suite in suites:
            for recipe in settings.recipes:
                failures += _gate(session, suite, recipe)
    except QFactsUsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
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
    for message in failures:
        print(message, file=sys.stderr)
    return EXIT_GATE_FAILED if failures else 0


def _gate(session, suite, recipe) -> list[str]:
    """Compare ``recipe`` on ``suite``, decide its gate (every relation), record the decision; the failure messages."""
    from pytest_qfacts.gate import decide, defaults_from, rules

    comparison = session.compare(suite, recipe)
    decision = decide(comparison, rules(defaults_from(session.settings), suite.gate))
    key = (session.settings.model, recipe, comparison.suite_hash)
    session.gates[key] = decision.to_report()
    message = decision.failure_message(comparison)
    return [message] if message else []


def _regate(args) -> int:
    from pytest_qfacts.errors import QFactsUsageError
    from pytest_qfacts.regate import regate

    try:
        return regate(args)
    except QFactsUsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE


def _baseline(args) -> int:
    import os
    import uuid

    from pytest_qfacts.errors import QFactsUsageError
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import settings_from_args
    from pytest_qfacts.suites import load_suite

    try:
        settings = replace(settings_from_args(args, root=Path.cwd()), update_baseline=True, run_id=uuid.uuid4().hex)
        check_settings_outputs(settings, options=CLI_BASELINE_OPTIONS)  # before any model loads
        session = QFactsSession(settings)
        _ = session.spec  # resolve the model name now, with a clear error
        for name in [n.strip() for n in args.suite.split(",") if n.strip()]:
            suite = load_suite(name)
            if settings.tier == "smoke":
                suite = suite.sample(settings.smoke_facts)
            ref = session.reference_result(suite, settings.probes)
            size = os.path.getsize(ref.baseline_path)
            print(f"baseline: {ref.baseline_path} ({len(ref.run.scores)} prompts, {size / 1e6:.2f} MB, "
                  f"probes {','.join(settings.probes) or 'none'})")
    except QFactsUsageError as err:
        print(f"error: {err}", file=sys.stderr)
        return EXIT_USAGE
    session.close()
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qfacts", description="Factual recall of quantized LLMs, outside pytest.")
    sub = parser.add_subparsers(dest="command", required=True)
    validate = sub.add_parser("validate", help="schema-check fact suites (YAML or LRE JSON files, or built-in names)")
    validate.add_argument("files", nargs="+")
    validate.set_defaults(func=_validate)
    run = sub.add_parser("run", help="compare a model with its quantized recipes on suites, as the plugin does")
    add_cli_arguments(run, "run")
    run.set_defaults(func=_run)
    base = sub.add_parser("baseline", help="store the reference model's numbers on suites, so gate runs need not load it")
    add_cli_arguments(base, "baseline")
    base.set_defaults(func=_baseline)
    gate = sub.add_parser("gate", help="re-apply the gates to stored run records (--qfacts-save-runs) or a JSON report, "
                                       "with no model loaded")
    gate.add_argument("source", metavar="RUNS_DIR_OR_REPORT", help="a folder of run records or a qfacts JSON report")
    add_cli_arguments(gate, "gate")
    gate.add_argument("--report", help="write the re-decided JSON report here")
    gate.set_defaults(func=_regate)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
