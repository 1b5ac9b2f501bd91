"""The HTML report, built from a hand-made JSON report: sections, plots, escaping, atomic write."""
from __future__ import annotations

import base64
import io
import os
import struct
import sys
from html.parser import HTMLParser

import pytest

from html_report_samples import EXPECTED_PLOTS, NASTY, sample_report

pytest.importorskip("matplotlib")

from pytest_qfacts.errors import QFactsUsageError  # noqa: E402
from pytest_qfacts.report import plots  # noqa: E402
from pytest_qfacts.report.html import render_html, write_html  # noqa: E402


class Page(HTMLParser):
    """Tags with their attributes, the text of each section and of the summary table's cells."""

    def __init__(self, text: str):
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict]] = []
        self.section: str | None = None
        self.section_text: dict[str, list[str]] = {}
        self.imgs: list[dict] = []   # with "group": the id of the enclosing section
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self._in_summary = self._in_body = False
        self.texts: list[str] = []
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.tags.append((tag, attrs))
        if tag == "section":
            self.section = attrs.get("id")
        if tag == "img":
            self.imgs.append({**attrs, "group": self.section})
        if tag == "table":
            self._in_summary = "qfacts-summary" in attrs.get("class", "")
        if tag == "tbody":
            self._in_body = True
        if tag == "tr" and self._in_summary and self._in_body:
            self.rows.append([])
        if tag == "td" and self._in_summary and self._in_body:
            self._cell = []

    def handle_endtag(self, tag):
        if tag == "td" and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None
        if tag == "table":
            self._in_summary = self._in_body = False

    def handle_data(self, data):
        self.texts.append(data)
        if self.section:
            self.section_text.setdefault(self.section, []).append(data)
        if self._cell is not None:
            self._cell.append(data)


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def report():
    return sample_report()


@pytest.fixture(scope="module")
def page_text(report):
    return render_html(report)


@pytest.fixture(scope="module")
def page(page_text):
    return Page(page_text)


def group_titles(page: Page) -> dict[str, str]:
    """section id -> its <h2> title (the first text of the section)."""
    return {sid: texts[0] for sid, texts in page.section_text.items() if sid and sid.startswith("group-")}


def test_every_expected_plot_is_an_embedded_png(page):
    titles = group_titles(page)
    assert sorted(titles.values()) == sorted(f"toy-model · {suite}" for suite in EXPECTED_PLOTS)
    for sid, title in titles.items():
        suite = title.split(" · ", 1)[1]
        imgs = [img for img in page.imgs if img["group"] == sid]
        assert {img["data-plot"] for img in imgs} == EXPECTED_PLOTS[suite]
        for img in imgs:
            assert "qfacts-plot" in img["class"].split()
            assert img["id"] == f"plot-{sid.split('-')[1]}-{img['data-plot']}"
            assert len(img["alt"]) > 20
            prefix = "data:image/png;base64,"
            assert img["src"].startswith(prefix)
            width, height = png_size(base64.b64decode(img["src"][len(prefix):], validate=True))
            assert width >= 400 and height >= 200
    ids = [img["id"] for img in page.imgs]
    assert len(ids) == len(set(ids)) == sum(len(kinds) for kinds in EXPECTED_PLOTS.values())


def test_summary_table_has_one_row_per_run_with_its_numbers(report, page):
    assert len(page.rows) == len(report["runs"])
    by_recipe = {row[1]: row for row in page.rows}
    # independent: the sample's ranks -> top-1, drop and lost counted here
    for run in report["runs"]:
        facts = run["facts"]
        ref = sum(f["reference_rank"] == 1 for f in facts) / len(facts)
        quant = sum(f["quantized_rank"] == 1 for f in facts) / len(facts)
        lost = sum(f["reference_rank"] == 1 and f["quantized_rank"] != 1 for f in facts)
        row = by_recipe[run["recipe"]]
        assert row[:4] == [run["model"], run["recipe"], run["suite"], str(len(facts))]
        assert row[4:8] == [f"{ref:.1%}", f"{quant:.1%}", f"{(ref - quant) * 100:+.1f} pt", str(lost)]
        assert row[10] == run["verdict"]["mode"]
    assert by_recipe["rtn-w8g64"][11] == "PASS"
    assert by_recipe["rtn-w2g64"][11] == "FAIL (2 of 3)"
    assert by_recipe["rtn-w4g64"][11] == "-"
    assert by_recipe["rtn-w2g64"][7] == "22"   # 20 + 2, counted by hand in html_report_samples.py


def test_user_strings_are_escaped_and_the_page_is_self_contained(page_text, page):
    assert "<script" not in page_text          # the suite name's <script> is text, and the page has no script
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#x27;q&#x27;" in page_text
    assert any(NASTY in t for t in page.texts)  # it reads back as the original string
    tags = {tag for tag, _ in page.tags}
    assert not tags & {"script", "link", "iframe", "object", "embed"}
    for tag, attrs in page.tags:
        for name in ("src", "href"):
            if name in attrs:
                assert attrs[name].startswith("data:image/png;base64,"), (tag, attrs[name][:60])
    assert "http://" not in page_text and "https://" not in page_text
    assert "url(" not in page_text  # no CSS resource either


def test_lost_facts_are_listed_per_run(report, page_text):
    for run in report["runs"]:
        lost = sum(f["reference_rank"] == 1 and f["quantized_rank"] != 1 for f in run["facts"])
        shown = min(lost, 20)
        assert f"{run['recipe']}: lost facts ({shown} of {lost})" in page_text
    assert "reason for rtn-w2g64" in page_text


def test_no_probe_plots_without_probe_keys():
    report = sample_report()
    for run in report["runs"]:
        run.pop("layers", None)
        run.pop("twohop", None)
    kinds = {img["data-plot"] for img in Page(render_html(report)).imgs}
    assert kinds == {"relation-drop", "rank-histogram"}


def test_entrec_plot_appears_only_with_twohop_entrec(page):
    kinds = [img["data-plot"] for img in page.imgs]
    assert kinds.count("entrec") == 1
    report = sample_report()
    report["runs"][2]["twohop"] = {"something_else": 1}
    assert "entrec" not in [img["data-plot"] for img in Page(render_html(report)).imgs]


def test_rendering_is_deterministic(report, page_text):
    assert render_html(report) == page_text


def test_empty_report_renders_a_page():
    page = Page(render_html({"qfacts_report": 1, "runs": []}))
    assert page.imgs == []
    assert "no model was compared in this run" in " ".join(page.texts)


@pytest.mark.parametrize("bad, message", [
    ([], "expected the JSON report dict"),
    ({"runs": "x"}, "expected the JSON report dict"),
    ({"runs": [{"model": "m", "recipe": "r", "suite": "s"}]}, "runs[0] lacks key(s) n_facts, reference, quantized, drop, flipped"),
])
def test_a_malformed_report_is_refused_naming_what_is_missing(tmp_path, bad, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("(", r"\(").replace(")", r"\)")):
        write_html(tmp_path / "r.html", bad)
    assert list(tmp_path.iterdir()) == []


def test_write_is_atomic(tmp_path, monkeypatch):
    target = tmp_path / "sub" / "report.html"
    write_html(target, {"qfacts_report": 1, "runs": []})
    first = target.read_text(encoding="utf-8")
    assert first.startswith("<!DOCTYPE html>") and first.rstrip().endswith("</html>")
    # a failure while replacing leaves the old file whole and no temporary file behind
    def boom(src, dst):
        raise OSError("disk full")
    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        write_html(target, sample_report())
    assert target.read_text(encoding="utf-8") == first
    assert [p.name for p in target.parent.iterdir()] == ["report.html"]


def test_missing_matplotlib_names_the_install_command(monkeypatch, report):
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(QFactsUsageError, match=r'pip install "pytest-qfacts\[html\]"'):
        render_html(report)


# -- the plotted numbers ------------------------------------------------------------
def test_rank_bins_match_an_independent_binning():
    np = pytest.importorskip("numpy")
    ranks = list(range(1, 20001)) + [49152, 10 ** 6]
    edges = np.array([1, 10, 100, 1000, 10000])  # bin b holds ranks in (edges[b-1], edges[b]]
    expected = np.searchsorted(edges, np.array(ranks), side="left")
    assert [plots.rank_bin(r) for r in ranks] == expected.tolist()
    assert plots.rank_histogram(ranks + [None]) == np.bincount(expected, minlength=6).tolist()
    assert plots.rank_histogram([1, 10, 11, 100, 101, 1000, 1001, 10000, 10001]) == [1, 1, 2, 2, 2, 1]
    with pytest.raises(ValueError, match="at least 1"):
        plots.rank_bin(0)


def _pixels_of(png: bytes, color: str) -> int:
    import matplotlib.image
    import numpy as np

    rgb = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    target = np.array([int(color[i:i + 2], 16) / 255 for i in (1, 3, 5)])
    return int(np.sum(np.all(np.abs(rgb - target) < 0.02, axis=-1)))


def test_drop_bars_grow_with_the_drop():
    color = plots.recipe_color(0)
    none = _pixels_of(plots.relation_drop_bars(["a", "b"], {"w4": [0.0, 0.0]}, "t"), color)
    some = _pixels_of(plots.relation_drop_bars(["a", "b"], {"w4": [0.8, 0.4]}, "t"), color)
    assert some > 20 * max(none, 1)   # only the legend patch is drawn without a drop


def test_rank_histogram_draws_the_reference_bar_in_the_first_bin():
    png = plots.rank_histogram_plot({"reference": [1] * 10, "w2": [5000] * 10}, "t")
    import matplotlib.image
    import numpy as np

    rgb = matplotlib.image.imread(io.BytesIO(png), format="png")[..., :3]
    dark = np.all(np.abs(rgb - 0x22 / 255) < 0.02, axis=-1)
    blue = np.all(np.abs(rgb - np.array([0x1F, 0x77, 0xB4]) / 255) < 0.02, axis=-1)
    dark_cols, blue_cols = np.flatnonzero(dark.sum(0) > 100), np.flatnonzero(blue.sum(0) > 100)
    assert len(dark_cols) and len(blue_cols)
    assert dark_cols.max() < blue_cols.min()   # the reference's tall bar (rank 1) left of the recipe's (1k-10k)


def test_many_relations_are_capped_to_the_largest_drops():
    names = [f"r{i}" for i in range(plots.MAX_RELATIONS + 10)]
    drops = [0.0] * len(names)
    drops[-1] = 0.9
    png = plots.relation_drop_bars(names, {"w2": drops}, "t")
    assert png_size(png)[1] <= 16 * plots.DPI


def _images(page: Page) -> dict[tuple[str, str], str]:
    return {(img["group"], img["data-plot"]): img["src"] for img in page.imgs}


def _zero_drops(report):
    for run in report["runs"]:
        for row in run["relations"]:
            row["drop"] = 0.0


def _all_recalled(report):
    for run in report["runs"]:
        for fact in run["facts"]:
            fact["quantized_rank"] = 1


def _layers(key, factor):
    def mutate(report):
        for run in report["runs"]:
            if key in run.get("layers", {}):
                run["layers"][key] = [v * factor for v in run["layers"][key]]
    return mutate


def _entrec(report):
    for run in report["runs"]:
        if "twohop" in run:
            run["twohop"]["entrec"]["quantized"] = [0.9] * len(run["twohop"]["entrec"]["quantized"])


@pytest.mark.parametrize("kind, mutate", [
    ("relation-drop", _zero_drops), ("rank-histogram", _all_recalled), ("cka", _layers("cka_last_token", 0.5)),
    ("logit-lens", _layers("lens_rank_quantized", 3.0)), ("entrec", _entrec),
])
def test_each_figure_draws_its_own_numbers(page, kind, mutate):
    """Changing the numbers behind one figure changes that figure and no other."""
    changed = sample_report()
    mutate(changed)
    before, after = _images(page), _images(Page(render_html(changed)))
    assert before.keys() == after.keys()
    differ = {key[1] for key in before if before[key] != after[key]}
    assert differ == {kind}


def test_drop_bars_of_the_page_show_the_lost_relations(page):
    def recipe_pixels(p):
        src = _images(p)[("group-1", "relation-drop")]
        return _pixels_of(base64.b64decode(src.split(",", 1)[1]), plots.recipe_color(1))  # rtn-w2g64, the 2nd recipe

    zero = sample_report()
    _zero_drops(zero)
    assert recipe_pixels(page) > 20 * max(recipe_pixels(Page(render_html(zero))), 1)
