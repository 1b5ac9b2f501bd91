"""The README and docs/: every relative link reaches a file (and a heading, when it names one), and
the README keeps the sections a user looks for, the two command lines and one generated options table.

A link is ``[text](target)`` or ``![alt](target)`` outside code; ``target`` with a scheme
(``https:``, ``mailto:``) is not checked. An anchor ``#name`` must be the GitHub slug of a heading of
the target Markdown file: the heading's text lowercased, every character that is not a letter, digit,
``_``, ``-`` or space removed, spaces turned into ``-``, and ``-1``, ``-2``, ... added to repeats.
"""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
PAGES = [README, *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(```|~~~).*?^\1[ \t]*$", re.M | re.S)
INLINE_CODE = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")

# what a user looks for in the README, as its headings
README_SECTIONS = (
    "## Install",
    "### As a user",
    "### For development",
    "## The two commands",
    "## Writing a test file",
    "## Writing a YAML suite",
    "## My FP16 model against my published GPTQ/AWQ checkpoint",
    "## What a 7B model needs on one GPU",
    "## Options",
    "## Documentation",
)
MAIN_COMMAND = ("python -m pytest examples/ --qfacts-model=smollm2-135m --qfacts-quant=rtn-w8g64,rtn-w2g64 "
                "--qfacts-report=qfacts-report.json")
TEST_COMMAND = "python -m pytest"
OPTIONS_START, OPTIONS_END = "<!-- options-table:start -->", "<!-- options-table:end -->"


def _prose(text: str) -> str:
    """The Markdown without fenced code blocks and inline code spans (links there are not links)."""
    return INLINE_CODE.sub("", FENCE.sub("", text))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading's text (links inside it count as their text)."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    """Every heading anchor of a Markdown file, repeats numbered as GitHub numbers them."""
    seen: dict[str, int] = {}
    out = set()
    for heading in HEADING.findall(FENCE.sub("", path.read_text(encoding="utf-8"))):
        base = slug(heading)
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def broken_links(page: Path, root: Path = ROOT) -> list[str]:
    """``'page: target (why)'`` (page relative to ``root``) for each relative link of ``page`` that reaches nothing."""
    problems = []
    for target in LINK.findall(_prose(page.read_text(encoding="utf-8"))):
        if SCHEME.match(target):
            continue
        file_part, _, anchor = target.partition("#")
        dest = (page.parent / file_part).resolve() if file_part else page
        if not dest.exists():
            problems.append(f"{page.relative_to(root)}: {target} (no file {file_part})")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            problems.append(f"{page.relative_to(root)}: {target} (no heading #{anchor} in {dest.name})")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_relative_link_reaches_a_file_and_heading(page):
    assert broken_links(page) == []


def test_the_checker_reports_a_missing_file_and_a_missing_heading(tmp_path):
    (tmp_path / "other.md").write_text("# Title\n\n## Two words\n## Two words\n", encoding="utf-8")
    page = tmp_path / "page.md"
    page.write_text("[a](other.md#two-words-1) [b](gone.md) [c](other.md#nothing) [d](https://x.org/y)\n"
                    "`[e](in-code.md)`\n```\n[f](in-fence.md)\n```\n[g](#here)\n## Here\n", encoding="utf-8")
    assert broken_links(page, root=tmp_path) == ["page.md: gone.md (no file gone.md)",
                                  "page.md: other.md#nothing (no heading #nothing in other.md)"]


def test_slugs_follow_github():
    assert slug("Activation patching — `metrics/patching.py` (003 §3.4)") == "activation-patching--metricspatchingpy-003-34"
    assert slug("Measured: every recipe on SmolLM2-135M (CPU)") == "measured-every-recipe-on-smollm2-135m-cpu"


def test_readme_has_the_sections_a_user_looks_for():
    headings = {line.strip() for line in README.read_text(encoding="utf-8").splitlines() if line.startswith("#")}
    assert [s for s in README_SECTIONS if s not in headings] == []


def test_readme_shows_the_main_command_and_the_test_command():
    lines = [line.strip() for line in README.read_text(encoding="utf-8").splitlines()]
    assert MAIN_COMMAND in lines and TEST_COMMAND in lines


def test_readme_has_one_generated_options_table_inside_the_options_section():
    text = README.read_text(encoding="utf-8")
    assert text.count(OPTIONS_START) == 1 and text.count(OPTIONS_END) == 1
    section = text[text.index("\n## Options\n"):]
    section = section[:section.find("\n## ", 1)]
    assert section.index(OPTIONS_START) < section.index(OPTIONS_END)
