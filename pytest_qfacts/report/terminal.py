"""The terminal summary: one row per model x recipe x suite."""
from __future__ import annotations

HEADER = ("model", "recipe", "suite", "facts", "ref top-1", "quant top-1", "drop", "lost", "gained", "McNemar p", "verdict", "gate")


def summary_rows(runs, gates: dict) -> list[tuple[str, ...]]:
    rows = []
    for key, c in runs.items():
        s = c.summary
        outcome = gates.get(key)
        gate = "-" if not outcome else ("PASS" if outcome["passed"] else f"FAIL ({outcome['failed']} of {outcome['checked']})")
        rows.append((c.model, c.recipe, c.suite, str(s.n), f"{s.reference_top1:.1%}", f"{s.quantized_top1:.1%}",
                     f"{s.drop * 100:+.1f} pt", str(s.lost), str(s.gained), f"{s.mcnemar_p:.3g}",
                     c.extras.get("verdict", {}).get("mode", "-"), gate))
    return rows


def format_table(rows: list[tuple[str, ...]], header=HEADER) -> list[str]:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip()  # noqa: E731
    return [line(header), line(tuple("-" * w for w in widths)), *(line(r) for r in rows)]


def write_summary(terminalreporter, runs, gates: dict) -> None:
    if not runs:
        return
    terminalreporter.write_sep("=", "qfacts summary")
    for text in format_table(summary_rows(runs, gates)):
        terminalreporter.write_line(text)
