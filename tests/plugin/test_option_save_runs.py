"""--qfacts-save-runs DIR stores every measured run record; `qfacts gate DIR` re-decides them with no model."""
import json
import subprocess
import sys

from plugin_helpers import CPU, KEEP, LOSE, MODEL, lossy_yaml, read_report, requires_tiny

GATE_WITHOUT_MODELS = """
import sys
from pytest_qfacts.cli import main
rc = main(sys.argv[1:])
heavy = sorted(m for m in sys.modules if m == "torch" or m.startswith("transformers.models"))
print("HEAVY", heavy)
sys.exit(rc)
"""


def _gate(*args, cwd):
    return subprocess.run([sys.executable, "-c", GATE_WITHOUT_MODELS, "gate", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=300)


@requires_tiny
def test_saved_runs_are_gated_again_without_any_model(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))   # the suite's own gate passes all
    result = pytester.runpytest_subprocess(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--qfacts-save-runs=runs",
                                           "--qfacts-report=r.json")
    assert result.ret == 0, result.stdout.str()
    names = sorted(p.name for p in (pytester.path / "runs").iterdir())
    suite_hash = read_report(pytester.path / "r.json")["runs"][0]["suite_hash"][:12]
    assert names == sorted(f"tiny-facts__lossy-{suite_hash}__{role}.qfacts-run.safetensors"
                           for role in ("reference", KEEP, LOSE)), names

    strict = _gate("runs", "--max-drop", "0.1", "--report", "strict.json", cwd=pytester.path)
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "HEAVY []" in strict.stdout
    assert f"qfacts gate failed: tiny-facts [{LOSE}] on suite 'lossy'" in strict.stderr
    assert "drop 25.0% > max_drop 10.0%" in strict.stderr
    runs = {r["recipe"]: r for r in json.loads((pytester.path / "strict.json").read_text())["runs"]}
    assert runs[KEEP]["gate"]["passed"] and not runs[LOSE]["gate"]["passed"]
    # the stored records give the numbers of the run that measured them: recall exactly, CKA within the
    # stated bound of the stored residual stream's compression (store/compress.py: 0.01)
    measured = {r["recipe"]: r for r in read_report(pytester.path / "r.json")["runs"]}
    for recipe in (KEEP, LOSE):
        assert runs[recipe]["quantized"]["top1"] == measured[recipe]["quantized"]["top1"]
        assert [f["quantized_rank"] for f in runs[recipe]["facts"]] == [f["quantized_rank"] for f in measured[recipe]["facts"]]
        cka_stored, cka_measured = runs[recipe]["layers"]["cka_last_token"], measured[recipe]["layers"]["cka_last_token"]
        assert max(abs(a - b) for a, b in zip(cka_stored, cka_measured)) <= 0.011
        assert runs[recipe]["verdict"]["mode"] == measured[recipe]["verdict"]["mode"]

    lenient = _gate("runs", "--max-drop", "0.3", cwd=pytester.path)
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "HEAVY []" in lenient.stdout
    as_stored = _gate("runs", cwd=pytester.path)   # no option: the suite's own gate (max_drop 1.0), stored in the record
    assert as_stored.returncode == 0, as_stored.stdout + as_stored.stderr

    from_report = _gate("r.json", "--max-drop", "0.1", cwd=pytester.path)
    assert from_report.returncode == 1 and "drop 25.0% > max_drop 10.0%" in from_report.stderr


def test_gate_on_a_missing_or_foreign_source_is_a_usage_error(pytester):
    missing = _gate("nowhere", cwd=pytester.path)
    assert missing.returncode == 2
    assert missing.stderr.strip() == ("error: nowhere: no such file or folder; give a folder of run records "
                                      "(--qfacts-save-runs) or a qfacts JSON report (--qfacts-report)")
    (pytester.path / "empty").mkdir()
    empty = _gate("empty", cwd=pytester.path)
    assert empty.returncode == 2
    assert empty.stderr.strip() == ("error: empty: no run records (*.qfacts-run.safetensors); store them with "
                                    "--qfacts-save-runs DIR (pytest) or --save-runs DIR (qfacts run)")
    (pytester.path / "x.json").write_text("{}")
    foreign = _gate("x.json", cwd=pytester.path)
    assert foreign.returncode == 2
    assert foreign.stderr.strip() == "error: x.json: not a qfacts JSON report (no 'qfacts_report' and 'runs' keys)"
