"""``qfacts gate RUNS_DIR_OR_REPORT``: the gates again, on stored records, with no model loaded.

From a folder of run records (``--qfacts-save-runs``): each quantized run is compared with the
reference run of the same model and suite (``compare``), then gated. From a JSON report: its
relation rows are gated as they stand. Both take the gate rules from the suite's own ``gate:`` block
when the record holds it, then the defaults; an option given on the command line (``--max-drop``,
``--min-reference-accuracy``) wins over both, since re-deciding with another bound is the point.
Exit 0 when every gate holds, 1 when one fails, 2 on bad input.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from pytest_qfacts.errors import QFactsUsageError

EXIT_GATE_FAILED = 1
#: the gate options of `qfacts gate` (attribute names of Settings and of the parsed arguments)
GATE_OPTIONS = ("max_drop", "min_reference_accuracy")


class _ReportRun:
    """A report entry seen as a comparison by the gate rules (rows, summary, lost facts)."""

    def __init__(self, entry: dict):
        from pytest_qfacts.compare.comparison import LostFact, RelationRow

        def row(d):
            return RelationRow(d["relation"], d["n"], d["reference_top1"], d["quantized_top1"],
                               d["reference_median_rank"], d["quantized_median_rank"], d["lost"], d["gained"],
                               d["mcnemar_p"] if d["mcnemar_p"] is not None else float("nan"))

        self.model, self.recipe, self.suite = entry["model"], entry["recipe"], entry["suite"]
        self.suite_hash = entry.get("suite_hash", "")
        self.relations = [row(r) for r in entry["relations"]]
        total = {"relation": "*", "n": entry["n_facts"], "reference_top1": entry["reference"]["top1"],
                 "quantized_top1": entry["quantized"]["top1"], "reference_median_rank": entry["reference"]["median_rank"],
                 "quantized_median_rank": entry["quantized"]["median_rank"], "lost": entry["flipped"]["lost"],
                 "gained": entry["flipped"]["gained"], "mcnemar_p": entry.get("mcnemar_p")}
        self.summary = row(total)
        self._lost = [LostFact(f["relation"], f.get("subject"), f["object"], f["prompt"], f["reference_rank"],
                               f["quantized_rank"], f.get("quantized_top", ""))
                      for f in entry.get("facts", []) if f["reference_rank"] == 1 and f["quantized_rank"] != 1]
        self.entry = entry

    def relation(self, name: str):
        return next(r for r in self.relations if r.relation == name)

    def lost_facts(self, relation: str | None = None):
        return [f for f in self._lost if relation is None or f.relation == relation]


def _from_report(path: Path) -> tuple[list, dict]:
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise QFactsUsageError(f"{path}: not a readable JSON report ({err}); give a qfacts JSON report "
                               "(--qfacts-report) or a folder of run records (--qfacts-save-runs)") from None
    if not isinstance(report, dict) or "qfacts_report" not in report or not isinstance(report.get("runs"), list):
        raise QFactsUsageError(f"{path}: not a qfacts JSON report (no 'qfacts_report' and 'runs' keys)")
    try:
        return [(_ReportRun(entry), {}) for entry in report["runs"]], report
    except (KeyError, TypeError, StopIteration) as err:
        raise QFactsUsageError(f"{path}: a run entry lacks the key {err}; re-create the report") from None


def _from_runs(folder: Path) -> list:
    from pytest_qfacts.compare import compare
    from pytest_qfacts.store.runs import list_runs, read_run

    runs = [read_run(path) for path in list_runs(folder)]
    if not runs:
        raise QFactsUsageError(f"{folder}: no run records (*.qfacts-run.safetensors); store them with "
                               "--qfacts-save-runs DIR (pytest) or --save-runs DIR (qfacts run)")
    references = {(r.info.model, r.info.suite_hash): r for r in runs if r.info.recipe is None}
    out = []
    for run in runs:
        if run.info.recipe is None:
            continue
        ref = references.get((run.info.model, run.info.suite_hash))
        if ref is None:
            raise QFactsUsageError(f"{folder}: no reference run of model '{run.info.model}' on suite "
                                   f"'{run.info.suite}' for the run of {run.info.recipe}; save both runs together")
        out.append((compare(ref, run, context={"probes": list(run.info.probes), "tier": run.info.tier}),
                    run.meta.get("suite_gate", {})))
    return out


def regate(args) -> int:
    from pytest_qfacts.gate import decide, defaults_from, rules
    from pytest_qfacts.report.json_report import build_report, write_report_dict
    from pytest_qfacts.report.terminal import format_table, report_rows
    from pytest_qfacts.settings import settings_from_args

    settings = settings_from_args(args, root=Path.cwd())
    source = Path(args.source)
    if not source.exists():
        raise QFactsUsageError(f"{source}: no such file or folder; give a folder of run records "
                               "(--qfacts-save-runs) or a qfacts JSON report (--qfacts-report)")
    stored_report = None
    if source.is_dir():
        pairs = _from_runs(source)
    else:
        pairs, stored_report = _from_report(source)
    # an option given on this command line wins over the suite's own gate: re-deciding with another bound is
    # what `qfacts gate` is for; options left out keep the suite's gate, then the defaults
    given = {key: getattr(settings, key) for key in GATE_OPTIONS if getattr(args, key, None) is not None}
    failures, entries, gates = [], {}, {}
    for index, (comparison, suite_gate) in enumerate(pairs):
        decision = decide(comparison, {**rules(defaults_from(settings), suite_gate), **given})
        message = decision.failure_message(comparison)
        if message:
            failures.append(message)
        entries[index], gates[index] = comparison, decision.to_report()
    if stored_report is None:
        report = build_report(entries, gates)
    else:
        report = stored_report
        for index, entry in enumerate(report["runs"]):
            entry["gate"] = gates[index]
    for line in format_table(report_rows(report["runs"])):
        print(line)
    if getattr(args, "report", None):
        write_report_dict(args.report, report)
        print(f"qfacts: JSON report written to {args.report}")
    for message in failures:
        print(message, file=sys.stderr)
    return EXIT_GATE_FAILED if failures else 0
