"""--qfacts-baseline=auto|require|off and --qfacts-baseline-dir."""
from plugin_helpers import CPU, KEEP, MODEL, lossy_yaml, read_report, requires_tiny


def test_bad_value_is_a_usage_error(pytester):
    result = pytester.runpytest("--qfacts-baseline=sometimes")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--qfacts-baseline: 'sometimes' is not accepted; accepted: auto, require, off*"])


def test_update_with_off_is_a_usage_error(pytester):
    result = pytester.runpytest("--qfacts-baseline=off", "--qfacts-update-baseline")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--qfacts-update-baseline writes baselines, but --qfacts-baseline=off*"])


@requires_tiny
def test_require_without_a_baseline_names_the_expected_file(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    result = pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-baseline=require")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*--qfacts-baseline=require: no stored baseline for model 'tiny-facts' on suite 'lossy'"
                                 "*.qfacts*baselines*tiny-facts*lossy-*.safetensors*--qfacts-update-baseline*"])


@requires_tiny
def test_baseline_dir_from_ini_is_relative_to_the_ini_file(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    pytester.makeini("[pytest]\nqfacts_baseline_dir = ci/baselines\n")
    sub = pytester.mkdir("elsewhere")
    common = (MODEL, CPU, f"--qfacts-quant={KEEP}", f"--rootdir={pytester.path}", f"-c={pytester.path / 'tox.ini'}")
    assert pytester.runpytest(*common, "--qfacts-update-baseline", str(pytester.path)).ret == 0
    assert len(list((pytester.path / "ci" / "baselines" / "tiny-facts").glob("lossy-*.safetensors"))) == 1
    assert not (sub / "ci").exists()
    result = pytester.runpytest(*common, "--qfacts-baseline=require", "--qfacts-report=r.json", str(pytester.path))
    assert result.ret == 0
    assert {r["reference"]["source"] for r in read_report(pytester.path / "r.json")["runs"]} == {"baseline"}


@requires_tiny
def test_corrupt_baseline_fails_with_a_clear_message(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    common = (MODEL, CPU, f"--qfacts-quant={KEEP}")
    assert pytester.runpytest(*common, "--qfacts-update-baseline").ret == 0
    (path,) = (pytester.path / ".qfacts").rglob("*.safetensors")
    path.write_bytes(path.read_bytes()[:100])
    result = pytester.runpytest(*common)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*baseline *lossy-*.safetensors is corrupt or truncated*--qfacts-update-baseline*"])
    result.stdout.no_fnmatch_line("*Traceback*")
