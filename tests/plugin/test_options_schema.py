"""One schema (pytest_qfacts.options) drives pytest's options and ini keys, Settings and the qfacts command.

Each option's default must read the same from pytest (no option, no ini), from ``Settings()``
and from every ``qfacts`` subcommand that takes it; a relative default path is relative to the
root (pytest's rootdir, or the current folder for the command); a relative path in the ini file
to the ini file's folder.
"""
import argparse
import os
import re
from pathlib import Path
from types import SimpleNamespace

import pytest

from pytest_qfacts.cli import build_parser, main
from pytest_qfacts.options import OPTIONS, default_of, option, options_markdown
from pytest_qfacts.settings import Settings, read_settings, settings_from_args

README = Path(__file__).resolve().parents[2] / "README.md"
#: what each subcommand's required arguments are given in these tests
REQUIRED = {"model": "qfacts-org/not-loaded", "quant": "rtn-w8g64", "suite": "capitals"}


def _at_root(value, opt, root: Path):
    """``value`` as a run with ``root`` reads it: a relative default path joined to the root."""
    if opt.path and isinstance(value, str) and not os.path.isabs(value):
        return str(root / value)
    return value


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_has_help_an_ini_key_and_a_settings_field():
    fields = set(vars(Settings()))
    for opt in OPTIONS:
        assert opt.help.strip(), opt.name
        assert opt.key == "qfacts_" + opt.name.replace("-", "_")
        assert opt.field in fields, opt.name
    assert len({opt.name for opt in OPTIONS}) == len(OPTIONS)
    assert {opt.name for opt in OPTIONS if opt.path} == {"suite", "report", "html", "cache-dir", "calibration",
                                                        "baseline-dir", "save-runs"}


def test_settings_defaults_are_the_parsed_schema_defaults():
    s = Settings()
    assert s.probes == ("lens", "cka", "ffn") == default_of("probes")
    assert (s.batch_size, s.max_drop, s.min_reference_accuracy, s.save_runs) == (16, 0.05, 0.2, None)
    assert (s.recipes, s.suites, s.devices, s.aliases) == ([], [], [], {})
    assert s.baseline_dir == ".qfacts/baselines" and s.yaml_pattern == "*.qfacts.yaml"
    assert Settings().recipes is not s.recipes   # a fresh list per instance


def test_pytest_defaults_agree_with_settings(pytester):
    config = pytester.parseconfig()
    read = read_settings(config)
    plain = Settings()
    for opt in OPTIONS:
        assert config.getini(opt.key) == opt.ini_default, opt.key
        if not opt.ini_only:
            assert config.getoption(opt.key) in (None, False), opt.name   # unset: the ini default applies
        assert getattr(read, opt.field) == _at_root(getattr(plain, opt.field), opt, config.rootpath), opt.name
    assert read.baseline_dir == str(config.rootpath / ".qfacts" / "baselines")


def test_qfacts_command_defaults_agree_with_settings(tmp_path):
    plain = Settings()
    seen = set()
    for command, parser in _subcommands().items():
        names = [opt for opt in OPTIONS if command in opt.commands]
        if not names:
            continue
        argv = [x for opt in names if opt.cli_required for x in (opt.cli_spelling, REQUIRED[opt.name])]
        argv += [str(tmp_path) for a in parser._actions if not a.option_strings and a.required]   # positionals
        args = parser.parse_args(argv)
        read = settings_from_args(args, root=tmp_path)
        for opt in names:
            seen.add(opt.name)
            if not opt.cli_required:
                assert parser.get_default(opt.dest) in (None, False), (command, opt.name)   # the schema's applies
                assert getattr(read, opt.field) == _at_root(getattr(plain, opt.field), opt, tmp_path), (command, opt.name)
    assert {"batch-size", "probes", "device", "dtype", "baseline-dir", "save-runs"} <= seen
    assert settings_from_args(_subcommands()["baseline"].parse_args(
        ["--model", "m", "--suite", "s", "--dir", "b"]), root=tmp_path).baseline_dir == "b"


def test_ini_paths_are_relative_to_the_ini_file(pytester):
    conf = pytester.mkdir("conf")
    (conf / "cal.txt").write_text("some calibration text\n")
    paths = {"report": "out/r.json", "html": "out/r.html", "cache-dir": "cache", "calibration": "cal.txt",
             "baseline-dir": "ci/baselines", "save-runs": "runs", "suite": "capitals,suites/s.qfacts.yaml"}
    assert set(paths) == {opt.name for opt in OPTIONS if opt.path}
    ini = conf / "pytest.ini"
    ini.write_text("[pytest]\n" + "".join(f"{option(n).key} = {v}\n" for n, v in paths.items()))
    s = read_settings(pytester.parseconfig("-c", str(ini)))
    for name, value in paths.items():
        expected = (["capitals", str(conf / "suites/s.qfacts.yaml")] if name == "suite" else str(conf / value))
        assert getattr(s, option(name).field) == expected, name
    # on the command line a relative path stays as typed (relative to the current folder)
    s = read_settings(pytester.parseconfig("-c", str(ini), "--qfacts-save-runs=here", "--qfacts-report=r.json"))
    assert (s.save_runs, s.report) == ("here", "r.json")


@pytest.mark.parametrize("args, message", [
    (["--qfacts-min-reference-accuracy=1.2"],
     "ERROR: --qfacts-min-reference-accuracy: '1.2' is not a fraction between 0 and 1 (0.02 = 2 points)"),
    (["--qfacts-lens-facts=-3"], "ERROR: --qfacts-lens-facts: '-3' is not a positive integer, or 0 for all"),
])
def test_bad_values_are_usage_errors(pytester, args, message):
    result = pytester.runpytest(*args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])


@pytest.mark.parametrize("command", ["run", "baseline"])
@pytest.mark.parametrize("flag, value, message", [
    ("--batch-size", "0", "'0' is not a positive integer"),
    ("--batch-size", "1.5", "'1.5' is not a positive integer"),
    ("--smoke-facts", "x", "'x' is not a positive integer"),
    ("--lens-facts", "-1", "'-1' is not a positive integer, or 0 for all"),
    ("--device", "tpu", "'tpu' is not a device; accepted: auto, cpu, cuda, cuda:N"),
    ("--dtype", "half", "'half' is not a dtype; accepted: auto, float32, bfloat16, float16"),
    ("--tier", "quick", "'quick' is not a tier; accepted: smoke, full"),
    ("--probes", "xray", "unknown probe(s) xray; accepted: default, all, none, or any of"),
])
def test_qfacts_bad_value_is_one_line_and_exit_2(capsys, tmp_path, command, flag, value, message):
    argv = [command, "--model", REQUIRED["model"], "--suite", "capitals", flag, value]
    if command == "run":
        argv += ["--quant", REQUIRED["quant"]]
    assert main(argv) == 2
    out, err = capsys.readouterr()
    assert err.startswith(f"error: {flag}: {message}") and err.count("\n") == 1, err
    assert "Traceback" not in out + err


def test_qfacts_run_batch_size_0_message(capsys):
    assert main(["run", "--model", "tiny-facts", "--quant", "rtn-w8g64", "--suite", "capitals", "--batch-size", "0"]) == 2
    assert capsys.readouterr().err == "error: --batch-size: '0' is not a positive integer\n"


def test_readme_options_table_is_generated_from_the_schema():
    text = README.read_text(encoding="utf-8")
    match = re.search(r"<!-- options-table:start -->\n(.*?)\n<!-- options-table:end -->", text, re.S)
    assert match, "README.md lacks the options-table markers"
    assert match.group(1) == options_markdown(), "regenerate: python -c 'from pytest_qfacts.options import options_markdown; print(options_markdown())'"
    for opt in OPTIONS:
        assert f"`{opt.key}`" in match.group(1)


def _row(drop: float):
    return SimpleNamespace(relation="*", drop=drop, relative_drop=drop, reference_top1=1.0, quantized_top1=1.0 - drop,
                           lost=1, gained=0, mcnemar_p=1.0, n=10)


def test_assert_recall_retained_defaults_to_the_option_default():
    from pytest_qfacts.assertions import RecallGateFailure, assert_recall_retained

    within = default_of("max-drop") - 0.01
    row = _row(within)
    assert_recall_retained(SimpleNamespace(summary=row, relations=[row]))   # passes under the 0.05 default
    row = _row(default_of("max-drop") + 0.01)
    result = SimpleNamespace(summary=row, relations=[row], model="m", recipe="r", suite="s", lost_facts=lambda rel=None: [])
    with pytest.raises(RecallGateFailure, match=r"drop 6\.0% > max_drop 5\.0%"):
        assert_recall_retained(result)
