"""--qfacts-html (and ``qfacts run --html``): the self-contained HTML report, written with the JSON one."""
import base64
import json
import re
import sys

import pytest

from plugin_helpers import CPU, KEEP, LOSE, MODEL, lossy_yaml, requires_tiny, suite_yaml

pytest.importorskip("matplotlib")

MISSING = '--qfacts-html: the HTML report needs matplotlib: pip install "pytest-qfacts[html]"'


@pytest.fixture(scope="module", autouse=True)
def _matplotlib_imported_here():
    """Draw once in this process first: pytester's in-process runs drop modules they import first,
    and matplotlib's C extensions should be imported once."""
    from pytest_qfacts.report import plots

    plots.relation_drop_bars(["a"], {"r": [0.1]}, "t")
    plots.rank_histogram_plot({"reference": [1], "r": [2]}, "t")
    plots.layer_curves([{"series": {"reference": [1, 2], "r": [None, 3]}, "ylabel": "y", "log": True}], "t")


def summary_cells(html: str) -> list[list[str]]:
    body = html.split('<table class="qfacts-summary">', 1)[1].split("<tbody>", 1)[1].split("</tbody>", 1)[0]
    return [re.findall(r"<td[^>]*>([^<]*)</td>", row) for row in re.findall(r"<tr>.*?</tr>", body)]


@requires_tiny
def test_html_report_has_a_row_and_plots_per_run(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 0.1}"))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--qfacts-html=out/report.html",
                                "--qfacts-report=out/report.json", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=2, failed=2)   # 2 relations x 2 recipes; rtn-w2g64 drops 25 points in each
    result.stdout.fnmatch_lines(["qfacts: JSON report written to out/report.json",
                                 "qfacts: HTML report written to out/report.html"])
    html = (pytester.path / "out" / "report.html").read_text(encoding="utf-8")
    runs = json.loads((pytester.path / "out" / "report.json").read_text(encoding="utf-8"))["runs"]
    rows = summary_cells(html)
    assert [r[:3] for r in rows] == [[run["model"], run["recipe"], run["suite"]] for run in runs]
    for row, run in zip(rows, runs):
        assert row[4:6] == [f"{run['reference']['top1']:.1%}", f"{run['quantized']['top1']:.1%}"]
        assert row[-1] == ("PASS" if run["recipe"] == KEEP else "FAIL (2 of 2)")
    kinds = re.findall(r'<img class="qfacts-plot" id="plot-1-([a-z-]+)" data-plot="\1" alt="[^"]+" '
                       r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    # the default probes (lens, cka, ffn) give the CKA and logit-lens curves
    assert [k for k, _ in kinds] == ["relation-drop", "rank-histogram", "cka", "logit-lens"]
    assert all(base64.b64decode(data)[:8] == b"\x89PNG\r\n\x1a\n" for _, data in kinds)
    assert "entrec" not in html   # no two-hop probe ran


def test_html_option_and_ini_are_read(pytester):
    pytester.makeini("[pytest]\nqfacts_html = reports/from-ini.html\n")
    pytester.makepyfile(f"""
        def test_html(qfacts_session, request):
            expected = request.config.getoption("qfacts_html") or {str(pytester.path / "reports" / "from-ini.html")!r}
            assert qfacts_session.settings.html == expected
    """)
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    pytester.runpytest("--qfacts-html=cli.html", "-p", "no:cacheprovider").assert_outcomes(passed=1)
    # nothing was compared: each page says so (the ini path is read from the ini file's folder)
    for path in (pytester.path / "reports" / "from-ini.html", pytester.path / "cli.html"):
        assert "no model was compared in this run" in path.read_text(encoding="utf-8")


def test_missing_matplotlib_is_a_usage_error_before_any_test(pytester, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    pytester.makepyfile("def test_never(): pass")
    result = pytester.runpytest("--qfacts-html=r.html", "-p", "no:cacheprovider")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert f"ERROR: {MISSING}" in result.stderr.lines
    assert not (pytester.path / "r.html").exists()


def test_cli_run_missing_matplotlib_exits_2_before_loading(monkeypatch, capsys, tmp_path):
    from pytest_qfacts.cli import main

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    assert main(["run", "--model", "no-such-model", "--quant", KEEP, "--suite", "capitals", "--html", str(tmp_path / "r.html")]) == 2
    assert 'error: --html: the HTML report needs matplotlib: pip install "pytest-qfacts[html]"' in capsys.readouterr().err


@requires_tiny
def test_cli_run_writes_the_html_report(tmp_path, capsys):
    from pytest_qfacts.cli import main

    suite = tmp_path / "small.qfacts.yaml"
    suite.write_text(suite_yaml(n=2), encoding="utf-8")
    out = tmp_path / "r.html"
    assert main(["run", "--model", "tiny-facts", "--device", "cpu", "--quant", KEEP, "--suite", str(suite),
                 "--probes", "none", "--html", str(out), "-q"]) == 0
    assert f"qfacts: HTML report written to {out}" in capsys.readouterr().out
    html = out.read_text(encoding="utf-8")
    assert [r[:3] for r in summary_cells(html)] == [["tiny-facts", KEEP, "small"]]
    assert re.findall(r'data-plot="([a-z-]+)"', html) == ["relation-drop", "rank-histogram"]   # no probes: no curves
