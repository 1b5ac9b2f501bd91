"""--qfacts-calibration, --qfacts-calibration-samples, --qfacts-calibration-length (and their ini keys).

The calibration text GPTQ and AWQ quantize on: a plain-text file or JSONL with a "text" field per line
(default: the text shipped with the package). A bad file is a usage error naming the file and line;
a calibration text that contains facts of a scored suite draws a CalibrationLeakWarning.
"""
import json

import pytest

from plugin_helpers import CPU, MODEL, read_report, requires_tiny


def _settings_test(pytester, expected):
    pytester.makepyfile(f"""
        def test_it(qfacts_session):
            s = qfacts_session.settings
            assert (s.calibration, s.calibration_samples, s.calibration_length) == {expected!r}
            c = qfacts_session.pool.calibration()
            assert (c.path, c.samples, c.length) == {expected!r}
    """)


def test_defaults_command_line_and_ini(pytester):
    (pytester.path / "cal.txt").write_text("Some calibration prose. " * 20, encoding="utf-8")
    _settings_test(pytester, (None, 16, 256))
    pytester.runpytest().assert_outcomes(passed=1)
    _settings_test(pytester, ("cal.txt", 4, 32))
    pytester.runpytest("--qfacts-calibration=cal.txt", "--qfacts-calibration-samples=4",
                       "--qfacts-calibration-length=32").assert_outcomes(passed=1)
    # ini: a relative path is read from the ini file's folder; the command line wins
    pytester.makeini("[pytest]\nqfacts_calibration = cal.txt\nqfacts_calibration_samples = 8\n"
                     "qfacts_calibration_length = 64\n")
    _settings_test(pytester, (str(pytester.path / "cal.txt"), 8, 64))
    pytester.runpytest().assert_outcomes(passed=1)
    _settings_test(pytester, (str(pytester.path / "cal.txt"), 3, 64))
    pytester.runpytest("--qfacts-calibration-samples=3").assert_outcomes(passed=1)


@pytest.mark.parametrize("args, files, message", [
    (["--qfacts-calibration=nope.txt"], {}, "ERROR: --qfacts-calibration: 'nope.txt' is not a file; give a plain-text "
                                           "file or a .jsonl file with one {\"text\": ...} object per line"),
    (["--qfacts-calibration=cal.jsonl"], {"cal.jsonl": '{"text": "fine"}\n{"txt": "oops"}\n'},
     "ERROR: cal.jsonl:2: field 'text' missing (got keys 'txt'); each line must be an object with a string field \"text\""),
    (["--qfacts-calibration=cal.jsonl"], {"cal.jsonl": '{"text": "fine"}\n\nnot json\n'},
     "ERROR: cal.jsonl:3: not valid JSON (*"),
    (["--qfacts-calibration=empty.txt"], {"empty.txt": "\n"}, "ERROR: empty.txt: the calibration file is empty*"),
    (["--qfacts-calibration-samples=0"], {}, "ERROR: --qfacts-calibration-samples: '0' is not a positive integer"),
    (["--qfacts-calibration-length=long"], {}, "ERROR: --qfacts-calibration-length: 'long' is not a positive integer"),
])
def test_bad_values_are_usage_errors_naming_file_and_line(pytester, args, files, message):
    for name, text in files.items():
        (pytester.path / name).write_text(text, encoding="utf-8")
    pytester.makepyfile("def test_never():\n    pass\n")
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


SUITES = {"leaky": """
qfacts: 1
name: leaky
relations:
  - name: capital
    templates: ["The capital of {subject} is"]
    facts: [{subject: Vorland, object: Kesh}, {subject: Gafaste, object: Dreidaeth}]
""", "clean": """
qfacts: 1
name: clean
relations:
  - name: capital
    templates: ["The capital of {subject} is"]
    facts: [{subject: Nabal, object: Shivu}]
"""}


@requires_tiny
@pytest.mark.gptq
def test_gptq_uses_the_calibration_and_warns_when_it_leaks_the_answers(pytester):
    pytest.importorskip("gptqmodel", reason='gptqmodel not installed: pip install -c .ci/constraints.txt "pytest-qfacts[gptq]"')
    lines = [{"text": f"Notes {i}: the capital of vorland is   Kesh . The capital of Nabal is a city by the river."}
             for i in range(40)]
    (pytester.path / "cal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines), encoding="utf-8")
    pytester.makefile(".qfacts.yaml", **SUITES)
    result = pytester.runpytest(MODEL, CPU, "--qfacts-quant=gptq-w4g64", "--qfacts-calibration=cal.jsonl",
                                "--qfacts-calibration-samples=3", "--qfacts-calibration-length=32",
                                "--qfacts-report=r.json", "--qfacts-max-drop=1", "--qfacts-min-reference-accuracy=0",
                                "-W", "default")   # "clean" holds a fact the reference does not know: no floor here
    result.assert_outcomes(passed=2)
    runs = read_report(pytester.path / "r.json")["runs"]
    assert sorted(run["suite"] for run in runs) == ["clean", "leaky"]
    for run in runs:
        calibration = run["quant"]["info"]["calibration"]
        assert calibration["source"] == "cal.jsonl"   # as given on the command line
        assert (calibration["samples"], calibration["length"]) == (3, 32)
    # the leaky suite draws the warning (in pytest's warnings summary), the clean one does not
    warned = [line for line in result.stdout.lines if "CalibrationLeakWarning" in line]
    assert len(warned) == 1, warned
    assert "contains 1 fact(s) of suite 'leaky'" in warned[0] and "'The capital of Vorland is Kesh'" in warned[0]
