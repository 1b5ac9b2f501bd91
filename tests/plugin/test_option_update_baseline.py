"""--qfacts-update-baseline: writes the stored baseline; later runs compare against it without the reference model."""
from plugin_helpers import CPU, KEEP, LOSE, MODEL, lossy_yaml, read_report, requires_tiny

ASSERT_NO_REFERENCE = """
def test_gate(qfacts_pair, qfacts_session):
    qfacts_pair.compare("lossy.qfacts.yaml")
    loaded = qfacts_session.loaded_reference is not None
    print("REFERENCE-LOADED", loaded)
"""


def _numbers(report):
    return {(r["recipe"], r["suite"]): (r["reference"]["top1"], r["quantized"]["top1"], r["flipped"]["lost"],
                                         [f["reference_rank"] for f in r["facts"]], r["verdict"]["mode"])
            for r in report["runs"]}


@requires_tiny
def test_update_then_gate_from_the_baseline(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    pytester.makepyfile(test_gate=ASSERT_NO_REFERENCE)
    common = (MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "-rP")

    off = pytester.runpytest(*common, "--qfacts-baseline=off", "--qfacts-report=off.json")
    assert not (pytester.path / ".qfacts").exists()          # off: nothing written
    wrote = pytester.runpytest(*common, "--qfacts-update-baseline", "--qfacts-report=wrote.json")
    files = sorted((pytester.path / ".qfacts" / "baselines" / "tiny-facts").glob("*"))
    assert [f.suffix for f in files] == [".safetensors"] and files[0].name.startswith("lossy-")
    gate = pytester.runpytest(*common, "--qfacts-report=gate.json")
    for result in (off, wrote, gate):
        result.assert_outcomes(passed=6)  # 2 relations x 2 recipes of the YAML suite + 1 test x 2 recipes

    gate.stdout.fnmatch_lines(["REFERENCE-LOADED False", "REFERENCE-LOADED False"])  # one test per recipe
    reports = {name: read_report(pytester.path / f"{name}.json") for name in ("off", "wrote", "gate")}
    assert {r["reference"]["source"] for r in reports["off"]["runs"]} == {"model"}
    assert {r["reference"]["source"] for r in reports["gate"]["runs"]} == {"baseline"}
    assert all(r["baseline"]["written"] is False for r in reports["gate"]["runs"])
    assert any(r["baseline"]["written"] for r in reports["wrote"]["runs"])
    # the same numbers from the model and from the stored baseline
    assert _numbers(reports["off"]) == _numbers(reports["wrote"]) == _numbers(reports["gate"])
    # per-layer probe numbers: exact where stored losslessly, within the stated bounds where compressed
    tolerance = {"cka_last_token": 0.011, "cka_subject": 0.011, "mlp_output_cosine": 2e-3,
                 "gate_flip_rate": 0.0, "ffn_top1pct_jaccard": 0.0, "lens_rank_reference": 0.0}
    model_runs = {r["recipe"]: r["layers"] for r in reports["off"]["runs"]}
    for run in reports["gate"]["runs"]:
        for key, tol in tolerance.items():
            a, b = model_runs[run["recipe"]][key], run["layers"][key]
            assert len(a) == len(b) and max(abs(x - y) for x, y in zip(a, b)) <= tol, (run["recipe"], key, a, b)


@requires_tiny
def test_update_rewrites_a_stale_baseline(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    common = (MODEL, CPU, f"--qfacts-quant={KEEP}")
    assert pytester.runpytest(*common, "--qfacts-update-baseline", "--qfacts-lens-facts=4").ret == 0
    refused = pytester.runpytest(*common, "--qfacts-lens-facts=5")
    assert refused.ret == 1
    refused.stdout.fnmatch_lines(["*does not match this run: lens facts: stored 4, this run 5*--qfacts-update-baseline*"])
    assert pytester.runpytest(*common, "--qfacts-update-baseline", "--qfacts-lens-facts=5").ret == 0
    assert pytester.runpytest(*common, "--qfacts-lens-facts=5").ret == 0
    assert len(list((pytester.path / ".qfacts" / "baselines").rglob("*.safetensors"))) == 1
