"""The terminal summary: one row per model x recipe x suite."""
from __future__ import annotations

HEADER = ("model", "recipe", "suite", "facts", "ref top-1", "quant top-1", "drop", "lost", "gained", "McNemar p", "verdict",
          "gate")


def report_rows(runs: list[dict]) -> list[tuple[str, ...]]:
    """One row per JSON report entry (this process's runs and those xdist workers sent to the controller)."""
    rows: list[tuple[str, ...]] = []
    for r in runs:
        outcome = r.get("gate")
        gate = "-" if not outcome else ("PASS" if outcome["passed"] else f"FAIL ({outcome['failed']} of {outcome['checked']})")
        p = r.get("mcnemar_p")
        rows.append((r["model"], r["recipe"], r["suite"], str(r["n_facts"]), f"{r['reference']['top1']:.1%}",
                     f"{r['quantized']['top1']:.1%}", f"{r['drop'] * 100:+.1f} pt", str(r["flipped"]["lost"]),
                     str(r["flipped"]["gained"]), "-" if p is None else f"{p:.3g}",
                     (r.get("verdict") or {}).get("mode", "-"), gate))
    return rows


def format_table(rows: list[tuple[str, ...]], header=HEADER) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def write_summary(terminalreporter, report_runs: list[dict]) -> None:
    """One row per model x recipe x suite of the JSON report's runs (this process's and the xdist workers')."""
    if not report_runs:
        return
    terminalreporter.write_sep("=", "qfacts summary")
    for text in format_table(report_rows(report_runs)):
        terminalreporter.write_line(text)
