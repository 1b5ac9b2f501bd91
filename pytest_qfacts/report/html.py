"""The HTML report: one self-contained file rendered from the JSON report dict.

``write_html(path, report)`` takes ``{"qfacts_report": 1, "runs": [...]}`` (what
``build_report`` returns) and writes, atomically, a page with

- the summary table (one row per model x recipe x suite, the terminal summary's columns);
- per (model, suite): per-relation drop bars, the gold-rank histogram, per-layer CKA and
  logit-lens curves (reference vs each recipe) when the probes ran, two-hop EntRec curves
  when the run has ``twohop.entrec``, and the lost facts of each recipe.

Every figure is a PNG embedded as a ``data:`` URI in an ``<img class="qfacts-plot">`` with
alt text and a ``data-plot`` kind; the page loads nothing from outside and runs no script.
Every string from the report (model, suite, relation, fact, verdict) is HTML-escaped.
"""
from __future__ import annotations

import base64
from html import escape

from pytest_qfacts.report import plots

LOST_SHOWN = 20  # lost facts listed per run


def write_html(path, report: dict) -> None:
    """Render ``report`` (the JSON report dict) and write it to ``path`` atomically."""
    from pytest_qfacts.report.json_report import atomic_write_text

    atomic_write_text(path, render_html(report))


def render_html(report: dict) -> str:
    plots.require_matplotlib()
    runs = _check(report)
    groups: dict[tuple[str, str], list[dict]] = {}
    for run in runs:
        groups.setdefault((run["model"], run["suite"]), []).append(run)
    body = [_header(runs), _summary(runs)]
    body += [_group(i, model, suite, group) for i, ((model, suite), group) in enumerate(groups.items(), 1)]
    body.append(_definitions())
    models = ", ".join(dict.fromkeys(r["model"] for r in runs)) or "no runs"
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>qfacts report: {escape(models)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n"
            + "\n".join(body) + "\n</body>\n</html>\n")


REQUIRED = ("model", "recipe", "suite", "n_facts", "reference", "quantized", "drop", "flipped")


def _check(report) -> list[dict]:
    """The report's runs; a report that is not one raises ValueError naming the run and key."""
    if not isinstance(report, dict) or not isinstance(report.get("runs"), list):
        raise ValueError('qfacts HTML report: expected the JSON report dict {"qfacts_report": 1, "runs": [...]}, '
                         f"got {type(report).__name__}" + (f" with keys {sorted(report)}" if isinstance(report, dict) else ""))
    for i, run in enumerate(report["runs"]):
        missing = [k for k in REQUIRED if not isinstance(run, dict) or k not in run]
        if missing:
            raise ValueError(f"qfacts HTML report: runs[{i}] lacks key(s) {', '.join(missing)}; "
                             f"every run needs {', '.join(REQUIRED)}")
    return report["runs"]


# -- page parts -------------------------------------------------------------------
def _header(runs: list[dict]) -> str:
    def names(key):
        return ", ".join(escape(str(v)) for v in dict.fromkeys(r[key] for r in runs)) or "–"

    return (f'<header><h1>qfacts report</h1>\n<p class="meta">{len(runs)} run(s) &middot; '
            f"model: {names('model')} &middot; recipes: {names('recipe')} &middot; suites: {names('suite')}</p></header>")


def _summary(runs: list[dict]) -> str:
    from pytest_qfacts.report.terminal import HEADER, report_rows

    head = "".join(f"<th>{escape(h)}</th>" for h in HEADER)
    rows = []
    for row in report_rows(runs):
        verdict, gate = row[-2], row[-1]
        cells = "".join(f"<td>{escape(str(v))}</td>" for v in row[:-2])
        rows.append(f'<tr>{cells}<td class="verdict v-{escape(verdict)}">{escape(verdict)}</td>'
                    f'<td class="gate {_gate_class(gate)}">{escape(gate)}</td></tr>')
    if not rows:
        rows.append(f'<tr><td colspan="{len(HEADER)}">no model was compared in this run</td></tr>')
    return (f'<section id="summary"><h2>Summary</h2>\n<table class="qfacts-summary">\n<thead><tr>{head}</tr></thead>\n'
            f"<tbody>\n" + "\n".join(rows) + "\n</tbody></table></section>")


def _gate_class(gate: str) -> str:
    return "pass" if gate == "PASS" else ("fail" if gate.startswith("FAIL") else "none")


def _group(index: int, model: str, suite: str, runs: list[dict]) -> str:
    title = f"{model} · {suite}"
    figures = [_relation_drops(index, title, runs), _rank_histogram(index, title, runs),
               _cka(index, title, runs), _lens(index, title, runs), _entrec(index, title, runs)]
    parts = [f'<section class="qfacts-group" id="group-{index}"><h2>{escape(title)}</h2>']
    parts += [f for f in figures if f]
    parts.append(_lost_facts(runs))
    parts.append("</section>")
    return "\n".join(parts)


def _img(index: int, kind: str, png: bytes, alt: str, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (f'<figure class="qfacts-figure"><img class="qfacts-plot" id="plot-{index}-{kind}" data-plot="{kind}" '
            f'alt="{escape(alt)}" src="data:image/png;base64,{data}">\n<figcaption>{escape(caption)}</figcaption></figure>')


def _relation_drops(index: int, title: str, runs: list[dict]) -> str:
    relations = list(dict.fromkeys(row["relation"] for run in runs for row in run.get("relations") or []))
    if not relations:
        return ""
    drops = {}
    for run in runs:
        by_name = {row["relation"]: row.get("drop") for row in run.get("relations") or []}
        drops[run["recipe"]] = [by_name.get(name) for name in relations]
    png = plots.relation_drop_bars(relations, drops, f"{title}: top-1 drop per relation")
    return _img(index, "relation-drop", png, f"Bar chart of the top-1 drop per relation of {title}, one bar per recipe",
                "Top-1 drop per relation, in points (reference top-1 − quantized top-1); longer bars lost more facts.")


def _rank_histogram(index: int, title: str, runs: list[dict]) -> str:
    if not any(run.get("facts") for run in runs):
        return ""
    series = {"reference": [f.get("reference_rank") for f in runs[0].get("facts") or []]}
    for run in runs:
        series[run["recipe"]] = [f.get("quantized_rank") for f in run.get("facts") or []]
    png = plots.rank_histogram_plot(series, f"{title}: gold-rank histogram")
    return _img(index, "rank-histogram", png, f"Histogram of the gold ranks of {title}, reference and each recipe",
                "Fraction of prompts per gold-rank bin (rank 1 = top-1 correct); mass moving right is forgotten facts.")


def _layer(run: dict, key: str):
    values = (run.get("layers") or {}).get(key)
    return values if isinstance(values, list) and values and not isinstance(values[0], list) else None


def _cka(index: int, title: str, runs: list[dict]) -> str:
    panels = []
    for key, where in (("cka_last_token", "last prompt token"), ("cka_subject", "last subject token")):
        series = {r["recipe"]: _layer(r, key) for r in runs if _layer(r, key)}
        if series:
            width = max(len(v) for v in series.values())
            panels.append({"series": {"reference": [1.0] * width, **series}, "ylabel": "linear CKA vs reference",
                           "subtitle": f"CKA at the {where}", "log": False})
    if not panels:
        return ""
    png = plots.layer_curves(panels, f"{title}: representation similarity per layer (CKA)")
    return _img(index, "cka", png, f"Line plot of linear CKA per layer between the reference and each recipe, {title}",
                "Linear CKA between reference and quantized residual streams per layer (1 = same geometry; "
                "the reference line is 1 by definition).")


def _lens(index: int, title: str, runs: list[dict]) -> str:
    panels = []
    for suffix, ylabel, log in (("rank", "median gold rank (logit lens)", True),
                                ("prob", "mean gold probability (logit lens)", False)):
        ref = next((_layer(r, f"lens_{suffix}_reference") for r in runs if _layer(r, f"lens_{suffix}_reference")), None)
        series = {r["recipe"]: _layer(r, f"lens_{suffix}_quantized") for r in runs if _layer(r, f"lens_{suffix}_quantized")}
        if ref or series:
            panels.append({"series": ({"reference": ref} if ref else {}) | series, "ylabel": ylabel, "log": log,
                           "subtitle": "gold rank per layer (lower is better)" if log else "gold probability per layer"})
    if not panels:
        return ""
    png = plots.layer_curves(panels, f"{title}: logit lens per layer")
    return _img(index, "logit-lens", png, f"Line plots of the logit-lens gold rank and probability per layer, {title}",
                "Logit lens: each layer's residual stream decoded through the final norm and unembedding; "
                "median gold rank (log scale) and mean gold probability over the lens facts.")


def _entrec(index: int, title: str, runs: list[dict]) -> str:
    def entrec(run):
        value = (run.get("twohop") or {}).get("entrec") if isinstance(run.get("twohop"), dict) else None
        return value if isinstance(value, dict) else {}

    ref = next((entrec(r)["reference"] for r in runs if isinstance(entrec(r).get("reference"), list)), None)
    series = {r["recipe"]: entrec(r)["quantized"] for r in runs if isinstance(entrec(r).get("quantized"), list)}
    if not ref and not series:
        return ""
    panel = {"series": ({"reference": ref} if ref else {}) | series, "ylabel": "EntRec (nats, higher = recalled)",
             "subtitle": "two-hop: recall of the bridge entity per layer", "log": False}
    png = plots.layer_curves([panel], f"{title}: two-hop EntRec per layer")
    return _img(index, "entrec", png, f"Line plot of the two-hop EntRec per layer, reference and each recipe, {title}",
                "Two-hop EntRec per layer: log p of the bridge entity's first token under the logit lens at the "
                "end of its mention, mean over the two-hop prompts (nats; higher = the bridge is recalled more strongly).")


def _lost_facts(runs: list[dict]) -> str:
    out = []
    for run in runs:
        lost = [f for f in run.get("facts") or [] if f.get("reference_rank") == 1 and f.get("quantized_rank") != 1]
        verdict = run.get("verdict") or {}
        reasons = "".join(f"<li>{escape(str(r))}</li>" for r in verdict.get("reasons") or [])
        rows = "".join(
            f"<tr><td>{escape(str(f.get('relation', '')))}</td><td>{escape(str(f.get('prompt') or f.get('subject') or ''))}</td>"
            f"<td>{escape(str(f.get('object', '')))}</td><td>{escape(str(f.get('quantized_top', '')))}</td>"
            f"<td>{f.get('reference_rank')} → {f.get('quantized_rank')}</td></tr>"
            for f in lost[:LOST_SHOWN])
        table = (f'<table class="qfacts-lost"><thead><tr><th>relation</th><th>prompt</th><th>gold</th>'
                 f"<th>quantized says</th><th>gold rank ref → quant</th></tr></thead><tbody>{rows}</tbody></table>"
                 if lost else "<p>no fact lost</p>")
        shown = f"{min(len(lost), LOST_SHOWN)} of {len(lost)}"
        out.append(f'<details class="qfacts-run"><summary>{escape(str(run["recipe"]))}: lost facts ({shown}), '
                   f"verdict {escape(str(verdict.get('mode', '-')))}</summary>\n{table}"
                   + (f"<ul class=\"reasons\">{reasons}</ul>" if reasons else "") + "</details>")
    return "\n".join(out)


def _definitions() -> str:
    items = [
        ("ref / quant top-1", "fraction of scored prompts (fact × template) whose gold token ranks first"),
        ("drop", "reference top-1 − quantized top-1, in points"),
        ("lost / gained", "prompts right in the reference and wrong quantized / the reverse"),
        ("McNemar p", "exact two-sided test on (lost, gained): p = min(1, 2·P[Binom(lost+gained, ½) ≤ min(lost, gained)])"),
        ("gold rank", "1 + number of vocabulary tokens with a higher logit than the gold token, at the last prompt position"),
        ("rank bins", "1, 2–10, 11–100, 101–1k, 1k–10k, >10k"),
        ("CKA", "linear CKA(X, Y) = ‖YᵀX‖²_F / (‖XᵀX‖_F ‖YᵀY‖_F) on centred activations of the same prompts"),
        ("EntRec", "log softmax(W_U · norm(h_l))[first token of the bridge entity e2], at the end of e2's mention in the "
                   "two-hop prompt, mean over prompts"),
        ("verdict", "intact, signal_degradation or computation_collapse (see docs/probes.md)"),
    ]
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in items)
    return f'<section id="definitions"><h2>How to read this report</h2><dl>{rows}</dl></section>'


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 16px}
h1{margin:0 0 4px}h2{border-bottom:1px solid #ddd;padding-bottom:4px;margin-top:32px}
.meta{color:#555;margin-top:0}
table{border-collapse:collapse;font-size:13px}
th,td{border:1px solid #ddd;padding:4px 8px;text-align:left;white-space:nowrap}
th{background:#f4f4f4}
.qfacts-summary td:nth-child(n+4){text-align:right}
.qfacts-summary tbody tr:nth-child(even){background:#fafafa}
.gate.pass{color:#17702a;font-weight:600}.gate.fail{color:#b00020;font-weight:600}
.v-computation_collapse{color:#b00020}.v-signal_degradation{color:#a15c00}.v-intact{color:#17702a}
figure{margin:16px 0}figure img{max-width:100%;height:auto;display:block}
figcaption{color:#555;font-size:13px;margin-top:4px}
details{margin:6px 0}summary{cursor:pointer}
.qfacts-lost td{white-space:normal}
.reasons{font-size:12px;color:#444}
dt{font-weight:600;margin-top:6px}dd{margin-left:16px;color:#444}
"""
