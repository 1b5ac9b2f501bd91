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
    assert rc == 1   # rtn-w2g64 fails the default gate (max_drop 0.05): qfacts run exits 1, as a CI step should
    out = capsys.readouterr().out
    assert "tiny-facts  rtn-w8g64" in out and "tiny-facts  rtn-w2g64" in out
    runs = json.loads(report.read_text())["runs"]
    top1 = {run["recipe"]: run["quantized"]["top1"] for run in runs}
    assert top1["rtn-w8g64"] > 0.95 and top1["rtn-w2g64"] < 0.05
    gates = {run["recipe"]: run["gate"]["passed"] for run in runs}
    assert gates == {"rtn-w8g64": True, "rtn-w2g64": False}


def test_run_bad_input_is_a_message_and_exit_2(capsys):
    assert main(["run", "--model", "nope-model", "--quant", "rtn-w8g64", "--suite", "capitals"]) == 2
    assert main(["run", "--model", "tiny-facts", "--quant", "rtn-w9g64", "--suite", "capitals"]) == 2
    assert main(["run", "--model", "tiny-facts", "--quant", "rtn-w8g64,rtn-w8g064", "--suite", "capitals"]) == 2
    err = capsys.readouterr().err
    assert "unknown model 'nope-model'" in err and "rtn-w9g64" in err
    assert "--quant: 'rtn-w8g064' is the recipe 'rtn-w8g64' again" in err


def test_baseline_writes_files_that_qfacts_run_then_uses(tmp_path, capsys):
    folder = tmp_path / "baselines"
    suite = "tiny-facts-onehop"
    assert main(["baseline", "--model", "tiny-facts", "--suite", suite, "--dir", str(folder), "--device", "cpu",
                 "--tier", "smoke", "--smoke-facts", "3", "-q"]) == 0
    out = capsys.readouterr().out
    (path,) = folder.glob("tiny-facts/tiny-facts-onehop-*.safetensors")
    assert f"baseline: {path}" in out and "MB" in out
    # a second run with the same key finds the file it wrote in its own run id: it writes again (a new run)
    assert main(["baseline", "--model", "tiny-facts", "--suite", suite, "--dir", str(folder), "--device", "cpu",
                 "--tier", "smoke", "--smoke-facts", "3", "-q"]) == 0
    assert len(list(folder.rglob("*.safetensors"))) == 1


def test_baseline_bad_input_is_a_message_and_exit_2(tmp_path, capsys):
    assert main(["baseline", "--model", "nope-model", "--suite", "capitals", "--dir", str(tmp_path)]) == 2
    assert main(["baseline", "--model", "tiny-facts", "--suite", "no-such-suite", "--dir", str(tmp_path)]) == 2
    assert main(["baseline", "--model", "tiny-facts", "--suite", "capitals", "--probes", "xray", "--dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "nope-model" in err and "no-such-suite" in err and "xray" in err
    assert not list(tmp_path.rglob("*.safetensors"))
