"""The qfacts command: validate and run."""
import json

from pytest_qfacts.cli import main


def test_validate_reports_ok_and_errors_with_file_line_field(tmp_path, capsys):
    good = tmp_path / "good.qfacts.yaml"
    good.write_text("qfacts: 1\nname: g\nrelations:\n  - name: r\n    templates: ['The capital of {subject} is']\n"
                    "    facts: [{subject: France, object: Paris}]\n")
    bad = tmp_path / "bad.qfacts.yaml"
    bad.write_text("qfacts: 1\nname: b\nrelations:\n  - name: r\n    templates: ['x {subject}']\n    facts: [{subjct: A, object: B}]\n")
    assert main(["validate", str(good), "capitals"]) == 0
    assert main(["validate", str(good), str(bad)]) == 1
    out, err = capsys.readouterr()
    assert "ok: " in out and "suite 'g', 1 relations, 1 facts" in out
    assert "bad.qfacts.yaml:6" in err and "relations[0].facts[0]" in err and "subjct" in err


def test_run_compares_and_writes_the_report(tmp_path, capsys):
    report = tmp_path / "r.json"
    rc = main(["run", "--model", "tiny-facts", "--quant", "rtn-w8g64,rtn-w2g64", "--suite", "tiny-facts-onehop",
               "--device", "cpu", "--probes", "none", "--report", str(report), "-q"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "tiny-facts  rtn-w8g64" in out and "tiny-facts  rtn-w2g64" in out
    runs = json.loads(report.read_text())["runs"]
    top1 = {run["recipe"]: run["quantized"]["top1"] for run in runs}
    assert top1["rtn-w8g64"] > 0.95 and top1["rtn-w2g64"] < 0.05


def test_run_bad_input_is_a_message_and_exit_2(capsys):
    assert main(["run", "--model", "nope-model", "--quant", "rtn-w8g64", "--suite", "capitals"]) == 2
    assert main(["run", "--model", "tiny-facts", "--quant", "rtn-w9g64", "--suite", "capitals"]) == 2
    assert main(["run", "--model", "tiny-facts", "--quant", "rtn-w8g64,rtn-w8g064", "--suite", "capitals"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope-model'" in err and "rtn-w9g64" in err
    assert "--quant: 'rtn-w8g064' is the recipe 'rtn-w8g64' again" in err
