"""The HTML report in a real browser: headless Chromium loads it and every plot renders.

A copy of the page gets a small script that, on ``load``, writes each image's
``complete && naturalWidth > 0`` (as ``WxH`` or ``no``) into a ``data-rendered``
attribute; ``chromium --dump-dom`` prints the DOM after that. A control page with one
corrupted image shows the check can fail. Skipped, with the reason, when no Chromium
is installed (``.ci/run`` installs Debian's ``chromium``).
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess

import pytest

from html_report_samples import EXPECTED_PLOTS, sample_report

pytest.importorskip("matplotlib")

from pytest_qfacts.report.html import write_html  # noqa: E402


def find_chromium() -> str | None:
    for name in (os.environ.get("QFACTS_CHROMIUM"), "chromium", "chromium-browser", "google-chrome"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


CHROMIUM = find_chromium()
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no headless Chromium: install Debian's `chromium` "
                                "(apt-get install chromium) or set QFACTS_CHROMIUM to a Chrome/Chromium binary")

CHECK_SCRIPT = """<script>
window.addEventListener("load", function () {
  var imgs = document.querySelectorAll("img");
  for (var i = 0; i < imgs.length; i++) {
    var im = imgs[i];
    im.setAttribute("data-rendered", im.complete && im.naturalWidth > 0 ? im.naturalWidth + "x" + im.naturalHeight : "no");
  }
  document.body.setAttribute("data-checked", String(imgs.length));
});
</script>"""


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    profile = tmp_path / "chromium-profile"
    profile.mkdir(exist_ok=True)
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--disable-dev-shm-usage", "--hide-scrollbars", f"--user-data-dir={profile}", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False,
                          env={**os.environ, "HOME": str(tmp_path)})


def rendered_images(tmp_path, page) -> tuple[int, list[dict]]:
    """Load ``page`` (with CHECK_SCRIPT added) in Chromium; (images counted by the script, img attributes)."""
    check = page.with_name(page.stem + "-check.html")
    check.write_text(page.read_text(encoding="utf-8").replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    result = chromium(tmp_path, "--virtual-time-budget=10000", "--dump-dom", check.as_uri())
    dom = result.stdout
    checked = re.search(r'<body[^>]*data-checked="(\d+)"', dom)
    assert checked, f"Chromium did not run the check (exit {result.returncode}): {result.stderr[-2000:]}"
    imgs = [dict(re.findall(r'([\w-]+)="([^"]*)"', tag)) for tag in re.findall(r"<img\b[^>]*>", dom)]
    return int(checked.group(1)), imgs


@pytest.fixture(scope="module")
def report_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_html(path, sample_report())
    return path


def test_every_plot_renders_in_chromium(tmp_path, report_file):
    count, imgs = rendered_images(tmp_path, report_file)
    expected = sum(len(kinds) for kinds in EXPECTED_PLOTS.values())
    assert count == len(imgs) == expected
    assert sorted(img["data-plot"] for img in imgs) == sorted(k for kinds in EXPECTED_PLOTS.values() for k in kinds)
    for img in imgs:
        assert re.fullmatch(r"\d+x\d+", img["data-rendered"]), (img["id"], img["data-rendered"])
        width, height = map(int, img["data-rendered"].split("x"))
        assert width >= 400 and height >= 200, img["id"]


def test_a_broken_plot_is_detected(tmp_path, report_file):
    """The control: corrupt one image's data and the check reports it as not rendered."""
    text = report_file.read_text(encoding="utf-8")
    start = text.index("data:image/png;base64,") + len("data:image/png;base64,")
    broken = tmp_path / "broken.html"
    broken.write_text(text[:start] + "AAAA" + text[start + 40:], encoding="utf-8")
    _, imgs = rendered_images(tmp_path, broken)
    states = [img["data-rendered"] for img in imgs]
    assert states[0] == "no" and all(s != "no" for s in states[1:])


def test_screenshot_of_the_report(tmp_path, report_file):
    shot = tmp_path / "shot.png"
    result = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,2000", "--virtual-time-budget=10000",
                      report_file.as_uri())
    assert shot.is_file(), f"no screenshot (exit {result.returncode}): {result.stderr[-2000:]}"
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 2000)
