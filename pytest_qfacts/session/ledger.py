"""The run ledger: every comparison of the run, the gate outcomes of the tests that used them,
and the report entries gathered from pytest-xdist workers."""
from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for annotations only: loading the ledger imports no numpy
    from pytest_qfacts.compare.comparison import Comparison


class RunLedger:
    def __init__(self) -> None:
        self.runs: dict[tuple, Comparison] = {}  # (model, recipe, suite hash) -> Comparison
        self.gates: dict[tuple, dict] = {}      # run key -> {"passed", "checked", "failed"}
        self.touched: list[tuple] = []          # run keys the current test compared
        self.worker_runs: list[dict] = []       # report entries gathered from pytest-xdist workers

    def get(self, key: tuple):
        return self.runs.get(key)

    def add(self, key: tuple, comparison) -> None:
        """Record ``comparison``; on a two-hop suite, update the Spearman over every recipe run so far."""
        self.runs[key] = comparison
        if comparison.twohop is None:
            return
        from pytest_qfacts.compare.twohop_block import spearman_across_runs

        same = {c.recipe: c.twohop for (model, _, suite_hash), c in self.runs.items()
                if model == key[0] and suite_hash == key[2] and c.twohop is not None}
        if len(same) > 1:  # Spearman over (composition, recipe) points of every recipe run so far
            across = spearman_across_runs(same)
            for block in same.values():
                block["spearman_first_hop_across_recipes"] = across

    def report(self) -> dict:
        """The JSON report of this run: this process's comparisons plus any gathered from xdist workers."""
        from pytest_qfacts.report.json_report import build_report, merge_runs

        report = build_report(self.runs, self.gates)
        if self.worker_runs:
            report["runs"] = merge_runs(report["runs"] + [dict(r) for r in self.worker_runs])
        return report

    def key_numbers(self) -> list[tuple[str, object]]:
        """(name, value) pairs of the runs the current test compared, for JUnit properties."""
        out: list[tuple[str, object]] = []
        for key in dict.fromkeys(self.touched):
            c = self.runs.get(key)
            if c is None:
                continue
            prefix = f"qfacts[{c.recipe}][{c.suite}]"
            s = c.summary
            out += [(f"{prefix}.reference_top1", round(s.reference_top1, 6)),
                    (f"{prefix}.quantized_top1", round(s.quantized_top1, 6)),
                    (f"{prefix}.drop", round(s.drop, 6)), (f"{prefix}.lost", s.lost), (f"{prefix}.gained", s.gained)]
            if c.verdict is not None:
                out.append((f"{prefix}.verdict", c.verdict["mode"]))
        return out

    def record_outcome(self, passed: bool, failed: bool) -> None:
        """Attribute the current test's outcome to the runs it compared (for the summary's gate column)."""
        for key in dict.fromkeys(self.touched):
            gate = self.gates.setdefault(key, {"passed": True, "checked": 0, "failed": 0})
            gate["checked"] += 1
            if failed:
                gate["failed"] += 1
                gate["passed"] = False
        self.touched = []
