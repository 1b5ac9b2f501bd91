"""YAML loading is bounded: bombs, deep nesting and control characters are refused fast, naming file, line, limit.

Issue 11: a 9-level merge-key bomb (``<<: [*a, *a, ...]``) ran past 60 s and 4 GB; 5,000 nested
lists raised RecursionError; a control character was reported without its line.
"""
from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
import yaml

from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_suite, load_suite_file
from pytest_qfacts.suites.yaml_bounds import MAX_ALIAS_NODES, MAX_DEPTH
from suite_input_helpers import HANG_SECONDS, alias_bomb, merge_bomb, run_qfacts, write_suite

BOMB_SECONDS = 2.0       # the merge bomb must be refused within this wall time ...
BOMB_MEGABYTES = 200     # ... and this peak memory (Python allocations, and the child's whole resident set)
DEEP = 5000              # nesting levels of the deep-list files
UNFOLD = ("anchors and aliases ('&name', '*name', '<<' merge keys) unfold the node at line {line} into {size} nodes, "
          "while the file writes out {written}; aliases may add at most 10,000 nodes (10,000, or as many as the file "
          "writes out when that is more). Write the repeated parts out, or share less through aliases")
NESTING = ("lists and mappings nest more than 32 levels deep; the limit is 32 levels and a suite needs at most 6 "
           "(relations > relation > facts > fact > aliases), so this is not a suite file")
MEASURE = """
import json, sys, time, tracemalloc
from pytest_qfacts.errors import SuiteError
from pytest_qfacts.suites import load_suite_file
tracemalloc.start()
start = time.process_time()   # CPU seconds of this process: the bound holds on a loaded, shared machine too
try:
    load_suite_file(sys.argv[1])
    message = None
except SuiteError as err:
    message = str(err)
seconds = time.process_time() - start
peak = tracemalloc.get_traced_memory()[1]
# the peak resident memory of this process image (VmHWM; ru_maxrss would carry the parent's peak across fork + exec)
rss_mb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:")) / 1024
print(json.dumps({"message": message, "seconds": seconds, "peak_mb": peak / 2**20, "rss_mb": rss_mb}))
"""


def refused(path) -> str:
    with pytest.raises(SuiteError) as info:
        load_suite_file(path)
    return str(info.value)


def test_limits_are_named_constants():
    assert (MAX_DEPTH, MAX_ALIAS_NODES) == (32, 10_000)


# --- merge keys and aliases ------------------------------------------------------------------

def test_merge_bomb_is_refused_within_two_seconds_and_200_megabytes(tmp_path):
    text = merge_bomb()
    assert len(text.encode()) < 1024  # a bomb of under a kilobyte
    path = write_suite(tmp_path, text, "bomb.qfacts.yaml")
    child = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                           timeout=HANG_SECONDS)
    assert child.returncode == 0, child.stderr
    measured = json.loads(child.stdout)
    assert measured["message"] == f"{path}:10: " + UNFOLD.format(line=10, size="22,141", written=58)
    assert measured["seconds"] < BOMB_SECONDS, measured
    assert measured["peak_mb"] < BOMB_MEGABYTES and measured["rss_mb"] < BOMB_MEGABYTES, measured


def test_merge_bomb_is_refused_by_qfacts_validate(tmp_path):
    path = write_suite(tmp_path, merge_bomb(), "bomb.qfacts.yaml")
    result = run_qfacts("validate", str(path))
    assert (result.returncode, result.stdout) == (1, "")
    assert result.stderr == f"error: {path}:10: " + UNFOLD.format(line=10, size="22,141", written=58) + "\n"


def test_merge_bomb_is_a_collection_error(pytester):
    pytester.path.joinpath("bomb.qfacts.yaml").write_text(merge_bomb())
    result = pytester.runpytest("--collect-only")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    result.stdout.fnmatch_lines(["*ERROR collecting bomb.qfacts.yaml*",
                                 f"qfacts: {pytester.path}/bomb.qfacts.yaml:10: anchors and aliases ('&name', '*name', "
                                 "'<<' merge keys) unfold the node at line 10 into 22,141 nodes*"])
    assert "Traceback" not in result.stdout.str()


def test_plain_alias_bomb_is_refused(tmp_path):
    path = write_suite(tmp_path, alias_bomb(), "laughs.qfacts.yaml")
    assert refused(path) == f"{path}:7: " + UNFOLD.format(line=7, size="13,942", written=27)


def test_an_alias_inside_its_own_anchor_is_refused(tmp_path):
    path = write_suite(tmp_path, "qfacts: 1\nname: loop\nrelations: &r [*r]\n")
    assert refused(path) == (f"{path}:3: an alias refers to the node at line 3 from inside that node, so it would "
                             "unfold without end; an alias ('*name') may only repeat a node defined before and "
                             "outside it")


def test_merge_keys_within_the_limit_still_load(tmp_path):
    path = write_suite(tmp_path, """\
        qfacts: 1
        name: shared
        relations:
          - &capital
            name: capital
            templates: &t ["The capital of {subject} is"]
            facts: [{subject: France, object: Paris}]
          - <<: *capital
            name: capital_again
            facts: [{subject: Peru, object: Lima}]
          - {name: third, templates: *t, facts: [{subject: Chile, object: Santiago}]}
        """)
    suite = load_suite_file(path)
    assert [r.name for r in suite.relations] == ["capital", "capital_again", "third"]
    assert {r.templates for r in suite.relations} == {("The capital of {subject} is",)}
    assert [i.prompt for i in suite.items()] == ["The capital of France is", "The capital of Peru is",
                                                 "The capital of Chile is"]


def test_aliases_just_under_the_limit_load_in_bounded_time(tmp_path):
    """Aliases adding almost MAX_ALIAS_NODES nodes to a small file are accepted, and cost a bounded time."""
    facts = ", ".join(f"{{subject: s{i}, object: o{i}}}" for i in range(100))  # 1 + 100 * 5 nodes
    copies = (MAX_ALIAS_NODES - 10) // 501
    relations = "\n".join(f"  - {{name: r{k}, templates: *t, facts: *f}}" for k in range(copies))
    first = f"  - {{name: r, templates: &t ['X {{subject}} is'], facts: &f [{facts}]}}"
    path = write_suite(tmp_path, f"qfacts: 1\nname: near\nrelations:\n{first}\n{relations}\n")
    child = subprocess.run([sys.executable, "-c", MEASURE, str(path)], capture_output=True, text=True,
                           timeout=HANG_SECONDS)
    measured = json.loads(child.stdout)
    assert measured["message"] is None and measured["seconds"] < BOMB_SECONDS, measured


# --- nesting ---------------------------------------------------------------------------------

@pytest.mark.parametrize("nested", ["[" * DEEP + "]" * DEEP, "{a: " * DEEP + "1" + "}" * DEEP],
                         ids=["flow-lists", "flow-mappings"])
def test_deep_flow_nesting_is_refused_without_recursion_error(tmp_path, nested):
    path = write_suite(tmp_path, f"qfacts: 1\nname: deep\nrelations: {nested}\n")
    assert refused(path) == f"{path}:3: {NESTING}"


def test_deep_block_nesting_is_refused_at_the_line_past_the_limit(tmp_path):
    nested = "".join("  " * level + "-\n" for level in range(MAX_DEPTH + 10))
    path = write_suite(tmp_path, f"qfacts: 1\nname: deep\nrelations:\n{nested}")
    assert refused(path) == f"{path}:{3 + MAX_DEPTH}: {NESTING}"  # line 4 holds level 2; level 33 is on line 35


def test_deep_nesting_is_refused_by_qfacts_validate(tmp_path):
    path = write_suite(tmp_path, f"qfacts: 1\nname: deep\nrelations: {'[' * DEEP}{']' * DEEP}\n")
    result = run_qfacts("validate", str(path))
    assert (result.returncode, result.stderr) == (1, f"error: {path}:3: {NESTING}\n")


# --- characters ------------------------------------------------------------------------------

@pytest.mark.parametrize("char, code, escape", [("\x07", "0007", "\\x07"), ("\x7f", "007F", "\\x7f"),
                                                 ("\ufffe", "FFFE", "\\ufffe")])
def test_control_character_is_reported_with_its_line_and_column(tmp_path, char, code, escape):
    path = write_suite(tmp_path, textwrap.dedent(f"""\
        qfacts: 1
        name: bell
        relations:
          - name: r
            templates: ["The capital of {{subject}} is"]
            facts: [{{subject: "Fra{char}nce", object: Paris}}]
        """))
    assert refused(path) == (f"{path}:6: non-printable character U+{code} at line 6, column 27: YAML does not allow "
                             f"it in a file; delete it, or write it as the escape \"{escape}\" inside a double-quoted "
                             "string")


def test_control_character_through_load_suite_and_qfacts_validate(tmp_path):
    path = write_suite(tmp_path, "qfacts: 1\nname: \"a\x07b\"\n")
    expected = (f"{path}:2: non-printable character U+0007 at line 2, column 9: YAML does not allow it in a file; "
                "delete it, or write it as the escape \"\\x07\" inside a double-quoted string")
    with pytest.raises(SuiteError) as info:
        load_suite(str(path))
    assert str(info.value) == expected
    result = run_qfacts("validate", str(path))
    assert (result.returncode, result.stderr) == (1, f"error: {expected}\n")


def test_a_tab_in_the_indentation_says_so(tmp_path):
    path = write_suite(tmp_path, "qfacts: 1\nname: t\nrelations:\n\t- name: r\n")
    found = "found character that" if yaml.__with_libyaml__ else "found character '\\t' that"  # the parser's words
    assert refused(path) == (f"{path}:4: YAML syntax error at line 4, column 1: {found} cannot start any token (while "
                             "scanning for the next token); it is a tab, and YAML indents with spaces only")


# --- without libyaml --------------------------------------------------------------------------

@pytest.mark.parametrize("text", [merge_bomb(), alias_bomb(), "qfacts: 1\nname: loop\nrelations: &r [*r]\n",
                                  f"qfacts: 1\nname: deep\nrelations: {'[' * DEEP}{']' * DEEP}\n",
                                  f"qfacts: 1\nname: deep\nrelations: {'{a: ' * DEEP}1{'}' * DEEP}\n",
                                  "qfacts: 1\nname: deep\nrelations:\n" + "- " * DEEP + "x\n",
                                  "qfacts: 1\nname: \"a\x07b\"\n"],
                         ids=["merge-bomb", "alias-bomb", "recursive", "flow-lists", "flow-mappings", "block-lists",
                              "control-character"])
def test_the_pure_python_parser_gives_the_same_messages(tmp_path, monkeypatch, text):
    """PyYAML without libyaml (its fallback) refuses the same files with the same messages."""
    from pytest_qfacts.suites import _nodes
    from pytest_qfacts.suites.yaml_bounds import BoundedLoader, PureBoundedLoader

    if BoundedLoader is PureBoundedLoader:
        pytest.skip("PyYAML has no libyaml here: the pure-Python parser is the only one")
    path = write_suite(tmp_path, text)
    with_libyaml = refused(path)
    monkeypatch.setattr(_nodes, "BoundedLoader", PureBoundedLoader)
    assert refused(path) == with_libyaml
