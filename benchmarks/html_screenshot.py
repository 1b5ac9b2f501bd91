"""Render an HTML report and take a full-page screenshot of it with headless Chromium.

    python benchmarks/html_screenshot.py [--model smollm2-135m] [--suite examples/world.qfacts.yaml]
        [--quant rtn-w8g64,rtn-w4g64,rtn-w2g64] [--html qfacts-report.html] [--out docs/img/html-report.png]

Scores the model and its recipes with the default probes (lens, cka, ffn), exactly as
``qfacts run --html`` does, writes the report, measures the page height in Chromium
(``--dump-dom`` of a copy whose script writes ``scrollHeight`` into the DOM), then takes
one screenshot of the whole page at 1280 px wide. The README links the result.
"""
from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WIDTH = 1280
HEIGHT_SCRIPT = """<script>window.addEventListener("load", function () {
  document.body.setAttribute("data-height", String(document.documentElement.scrollHeight));
});</script>"""


def chromium(profile: str, *args: str) -> subprocess.CompletedProcess:
    binary = os.environ.get("QFACTS_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not binary:
        sys.exit("no Chromium found: apt-get install chromium (or set QFACTS_CHROMIUM)")
    cmd = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", "--virtual-time-budget=10000", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180, check=False)


def page_height(html: Path, profile: str) -> int:
    probe = html.with_name(html.stem + "-height.html")
    probe.write_text(html.read_text(encoding="utf-8").replace("</body>", HEIGHT_SCRIPT + "</body>"), encoding="utf-8")
    try:
        dom = chromium(profile, f"--window-size={WIDTH},1000", "--dump-dom", probe.as_uri()).stdout
    finally:
        probe.unlink()
    found = re.search(r'data-height="(\d+)"', dom)
    if not found:
        sys.exit("Chromium did not report the page height")
    return int(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="smollm2-135m")
    parser.add_argument("--suite", default="examples/world.qfacts.yaml")
    parser.add_argument("--quant", default="rtn-w8g64,rtn-w4g64,rtn-w2g64")
    parser.add_argument("--html", help="keep the HTML report here (default: a temporary file)")
    parser.add_argument("--out", default="docs/img/html-report.png")
    args = parser.parse_args()

    from pytest_qfacts.report.html import write_html
    from pytest_qfacts.report.json_report import build_report
    from pytest_qfacts.report.terminal import format_table, report_rows
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings, parse_recipe_list
    from pytest_qfacts.suites import load_suite

    started = time.perf_counter()
    session = QFactsSession(Settings(model=args.model, device="cpu", quiet=True, probes=("lens", "cka", "ffn"),
                                     recipes=parse_recipe_list(args.quant, "--quant")))
    suites = [load_suite(name) for name in args.suite.split(",") if name.strip()]
    for suite in suites:
        for recipe in session.settings.recipes:
            session.compare(suite, recipe)
    report = build_report(session.runs)
    session.close()
    print("\n".join(format_table(report_rows(report["runs"]))))
    with tempfile.TemporaryDirectory() as tmp:
        html = Path(args.html) if args.html else Path(tmp) / "qfacts-report.html"
        write_html(html, report)
        height = page_height(html, str(Path(tmp) / "profile"))
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        result = chromium(str(Path(tmp) / "profile"), f"--window-size={WIDTH},{height}", f"--screenshot={out.resolve()}",
                          html.resolve().as_uri())
        if not out.is_file():
            sys.exit(f"no screenshot written (exit {result.returncode}): {result.stderr[-1000:]}")
        print(f"HTML report: {html.stat().st_size / 1e3:.0f} kB, {len(report['runs'])} runs")
    print(f"screenshot: {out} ({WIDTH}x{height} px, {out.stat().st_size / 1e3:.0f} kB) in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
