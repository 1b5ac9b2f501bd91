"""Output paths are checked before any model loads (outputs.py): a bad one is a usage error with its
option, its path and what would be accepted, never a traceback at the end of a finished run.

Each case runs the plugin on a project with a YAML suite (so a run that went on would load
tiny-facts) and the ``qfacts`` command where it has the option; ``load_model`` is replaced by a
function that fails the test, so reaching it shows the check came too late.
"""
from __future__ import annotations

import os
import secrets

import pytest

from pytest_qfacts.cli import main

SUITE = """\
qfacts: 1
name: small
relations:
  - name: country_capital
    templates: ["The capital of {subject} is"]
    facts: [{subject: Vorland, object: Kesh}]
"""
MODEL = ["--qfacts-model=tiny-facts", "--qfacts-device=cpu"]
CLI_RUN = ["run", "--model", "tiny-facts", "--quant", "rtn-w8g64", "--suite", "t.qfacts.yaml", "--device", "cpu"]
CLI_BASELINE = ["baseline", "--model", "tiny-facts", "--suite", "t.qfacts.yaml", "--device", "cpu"]
FILE_HINT = "give a file path in a folder you can write to (missing folders are created)"
DIR_HINT = "give a folder path you can write to (missing folders are created)"
UNWRITABLE = "/proc"   # a folder nobody can create files in, root included


def _os_reason(folder: str) -> str:
    """What the OS says when a file is created in ``folder`` (the message quotes it)."""
    try:
        fd = os.open(os.path.join(folder, f"probe-{secrets.token_hex(4)}"), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
    except OSError as err:
        return err.strerror
    os.close(fd)
    pytest.skip(f"{folder} is writable here")


@pytest.fixture(autouse=True)
def project(pytester, monkeypatch):
    """A project with a suite, a file named ``somefile``, a folder ``adir``; no model may load."""
    monkeypatch.chdir(pytester.path)   # for the qfacts command (conftest.py keeps both offline, off the user's cache)

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded before the output paths were checked")

    monkeypatch.setattr("pytest_qfacts.models.loading.load_model", no_model)
    pytester.makefile(".qfacts.yaml", t=SUITE)
    pytester.path.joinpath("somefile").write_text("a file\n", encoding="utf-8")
    pytester.path.joinpath("calib.txt").write_text("Some calibration text.\n", encoding="utf-8")
    pytester.mkdir("adir")
    return pytester


def _plugin_error(pytester, *args) -> str:
    result = pytester.runpytest(*MODEL, "--qfacts-quant=rtn-w8g64", *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    errors = [line for line in result.stderr.lines if line.startswith("ERROR:")]
    assert len(errors) == 1, result.stderr.str()
    return errors[0][len("ERROR: "):]


def _cli_error(capsys, *args) -> str:
    assert main(list(args)) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), lines
    return lines[0][len("error: "):]


# -- the plugin ----------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value, message", [
    ("--qfacts-report", "somefile/report.json",
     (f"--qfacts-report: cannot write 'somefile/report.json': 'somefile' is a file, not a folder; {FILE_HINT}, "
     "e.g. 'qfacts-report.json'")),
    ("--qfacts-report", "somefile/deeper/report.json",
     (f"--qfacts-report: cannot write 'somefile/deeper/report.json': 'somefile' is a file, not a folder; {FILE_HINT}, "
     "e.g. 'qfacts-report.json'")),
    ("--qfacts-report", "adir",
     "--qfacts-report: 'adir' is a folder, not a file; give a file path, e.g. 'adir/qfacts-report.json'"),
    ("--qfacts-html", "somefile/report.html",
     (f"--qfacts-html: cannot write 'somefile/report.html': 'somefile' is a file, not a folder; {FILE_HINT}, "
     "e.g. 'qfacts-report.html'")),
    ("--qfacts-html", "adir",
     "--qfacts-html: 'adir' is a folder, not a file; give a file path, e.g. 'adir/qfacts-report.html'"),
    ("--qfacts-report", "t.qfacts.yaml",
     ("--qfacts-report: 't.qfacts.yaml' is a fact suite (its name matches '*.qfacts.yaml'); writing there would "
     "overwrite it: give another file path, e.g. 'qfacts-report.json'")),
    ("--qfacts-cache-dir", "somefile",
     "--qfacts-cache-dir: 'somefile' is a file, not a folder; give a folder path (missing folders are created)"),
    ("--qfacts-cache-dir", "somefile/cache",
     f"--qfacts-cache-dir: cannot use 'somefile/cache' as a folder: 'somefile' is a file, not a folder; {DIR_HINT}"),
    ("--qfacts-baseline-dir", "somefile/baselines",
     ("--qfacts-baseline-dir: cannot use 'somefile/baselines' as a folder: 'somefile' is a file, not a folder; "
     f"{DIR_HINT}")),
    ("--qfacts-baseline-dir", "somefile",
     "--qfacts-baseline-dir: 'somefile' is a file, not a folder; give a folder path (missing folders are created)"),
])
def test_bad_output_path_stops_the_plugin_at_configure(project, option, value, message):
    if option == "--qfacts-html":
        pytest.importorskip("matplotlib")
    assert _plugin_error(project, f"{option}={value}") == message


def test_report_in_an_unwritable_folder(project):
    reason = _os_reason(UNWRITABLE)
    assert _plugin_error(project, f"--qfacts-report={UNWRITABLE}/x.json") == (
        f"--qfacts-report: cannot write '{UNWRITABLE}/x.json': creating a file in '{UNWRITABLE}' fails ({reason}); "
        f"{FILE_HINT}, e.g. 'qfacts-report.json'")


def test_cache_dir_in_an_unwritable_folder(project):
    reason = _os_reason(UNWRITABLE)
    assert _plugin_error(project, f"--qfacts-cache-dir={UNWRITABLE}/cache") == (
        f"--qfacts-cache-dir: cannot use '{UNWRITABLE}/cache' as a folder: creating a file in '{UNWRITABLE}' fails "
        f"({reason}); {DIR_HINT}")


def test_baseline_dir_is_checked_for_writing_only_when_baselines_are_written(project):
    reason = _os_reason(UNWRITABLE)
    assert _plugin_error(project, f"--qfacts-baseline-dir={UNWRITABLE}/b", "--qfacts-update-baseline") == (
        f"--qfacts-baseline-dir: cannot use '{UNWRITABLE}/b' as a folder: creating a file in '{UNWRITABLE}' fails "
        f"({reason}); {DIR_HINT}")


def test_report_that_is_the_suite_given_by_option(project):
    project.path.joinpath("suite.yml").write_text(SUITE.replace("small", "other"), encoding="utf-8")
    assert _plugin_error(project, "--qfacts-suite=suite.yml", "--qfacts-report=suite.yml") == (
        "--qfacts-report: 'suite.yml' is a suite file of this run; writing there would overwrite it: give another "
        "file path, e.g. 'qfacts-report.json'")


def test_report_that_is_a_file_argument_of_pytest(project):
    project.makepyfile(test_x="def test_x():\n    pass\n")
    assert _plugin_error(project, "test_x.py", "--qfacts-report=test_x.py") == (
        "--qfacts-report: 'test_x.py' is a file argument of this pytest run; writing there would overwrite it: "
        "give another file path, e.g. 'qfacts-report.json'")


def test_report_that_is_the_calibration_file(project):
    assert _plugin_error(project, "--qfacts-calibration=calib.txt", "--qfacts-report=calib.txt") == (
        "--qfacts-report: 'calib.txt' is the calibration file of this run; writing there would overwrite it: give "
        "another file path, e.g. 'qfacts-report.json'")


def test_html_on_the_report_path(project):
    pytest.importorskip("matplotlib")
    assert _plugin_error(project, "--qfacts-report=out.json", "--qfacts-html=out.json") == (
        "--qfacts-html: 'out.json' is also the --qfacts-report path; give each report its own file, "
        "e.g. 'qfacts-report.html'")


def test_good_paths_pass_and_create_nothing_before_the_run(project):
    """Missing folders are accepted (created when written); the check itself leaves no file."""
    project.makepyfile("def test_nothing():\n    pass\n")
    before = sorted(p.name for p in project.path.iterdir())
    result = project.runpytest(*MODEL, "--qfacts-report=new/deep/report.json", "--qfacts-cache-dir=c/d",
                               "--qfacts-baseline-dir=b/e", "-k", "test_nothing", "-p", "no:cacheprovider")
    assert result.ret == 0, result.stdout.str() + result.stderr.str()
    assert sorted(p.name for p in project.path.iterdir()) == sorted(before + ["new"])   # the report's folder only
    assert [str(p.relative_to(project.path)) for p in (project.path / "new").rglob("*")] == \
        ["new/deep", "new/deep/report.json"]


# -- the qfacts command -----------------------------------------------------------------------------
@pytest.mark.parametrize("args, message", [
    (CLI_RUN + ["--report", "somefile/report.json"],
     (f"--report: cannot write 'somefile/report.json': 'somefile' is a file, not a folder; {FILE_HINT}, "
     "e.g. 'qfacts-report.json'")),
    (CLI_RUN + ["--report", "adir"],
     "--report: 'adir' is a folder, not a file; give a file path, e.g. 'adir/qfacts-report.json'"),
    (CLI_RUN + ["--report", "t.qfacts.yaml"],
     ("--report: 't.qfacts.yaml' is a suite file of this run; writing there would overwrite it: give another file "
     "path, e.g. 'qfacts-report.json'")),
    (CLI_BASELINE + ["--dir", "somefile/baselines"],
     f"--dir: cannot use 'somefile/baselines' as a folder: 'somefile' is a file, not a folder; {DIR_HINT}"),
    (CLI_BASELINE + ["--dir", "somefile"],
     "--dir: 'somefile' is a file, not a folder; give a folder path (missing folders are created)"),
])
def test_bad_output_path_stops_the_command_first(project, capsys, args, message):
    assert _cli_error(capsys, *args) == message


def test_command_report_in_an_unwritable_folder(project, capsys):
    reason = _os_reason(UNWRITABLE)
    assert _cli_error(capsys, *CLI_RUN, "--report", f"{UNWRITABLE}/x.json") == (
        f"--report: cannot write '{UNWRITABLE}/x.json': creating a file in '{UNWRITABLE}' fails ({reason}); "
        f"{FILE_HINT}, e.g. 'qfacts-report.json'")


def test_command_baseline_dir_in_an_unwritable_folder(project, capsys):
    reason = _os_reason(UNWRITABLE)
    assert _cli_error(capsys, *CLI_BASELINE, "--dir", f"{UNWRITABLE}/b") == (
        f"--dir: cannot use '{UNWRITABLE}/b' as a folder: creating a file in '{UNWRITABLE}' fails ({reason}); "
        f"{DIR_HINT}")
