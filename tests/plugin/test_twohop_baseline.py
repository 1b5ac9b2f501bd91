"""A two-hop suite gated with a stored baseline loads no reference model: the two-hop pass is in the record."""
import yaml

from plugin_helpers import CPU, KEEP, MODEL, TINY_TWOHOP, read_report, requires_tiny

ASSERT_NO_REFERENCE = """
def test_bridges(qfacts_pair, qfacts_session):
    result = qfacts_pair.compare("small2.qfacts.yaml")
    assert result.twohop is not None and result.twohop["n"] > 0
    print("REFERENCE-LOADED", qfacts_session.loaded_reference is not None)
"""


def _small_twohop(n_facts: int = 6) -> str:
    """The first composition of tiny-facts-twohop, with its first ``n_facts`` facts."""
    data = yaml.safe_load(TINY_TWOHOP.read_text(encoding="utf-8"))
    first = dict(data["twohop"][0], facts=data["twohop"][0]["facts"][:n_facts])
    return yaml.safe_dump({"qfacts": 1, "name": "small2", "twohop": [first], "gate": {"max_drop": 1.0}}, sort_keys=False)


@requires_tiny
def test_twohop_gate_from_a_baseline_loads_no_reference(pytester):
    pytester.makefile(".qfacts.yaml", small2=_small_twohop())
    pytester.makepyfile(test_bridges=ASSERT_NO_REFERENCE)
    common = (MODEL, CPU, f"--qfacts-quant={KEEP}", "-rP", "-p", "no:randomly")
    model = pytester.runpytest_subprocess(*common, "--qfacts-baseline=off", "--qfacts-report=model.json")
    assert model.ret == 0, model.stdout.str()
    wrote = pytester.runpytest_subprocess(*common, "--qfacts-update-baseline")
    assert wrote.ret == 0, wrote.stdout.str()
    gate = pytester.runpytest_subprocess(*common, "--qfacts-baseline=require", "--qfacts-report=gate.json")
    assert gate.ret == 0, gate.stdout.str()
    gate.stdout.fnmatch_lines(["REFERENCE-LOADED False"])
    from_model = {r["suite"]: r for r in read_report(pytester.path / "model.json")["runs"]}
    from_baseline = {r["suite"]: r for r in read_report(pytester.path / "gate.json")["runs"]}
    assert {r["reference"]["source"] for r in from_baseline.values()} == {"baseline"}
    for suite, run in from_baseline.items():
        assert run["twohop"]["entrec"] == from_model[suite]["twohop"]["entrec"]
        assert run["twohop"]["cnstscore"] == from_model[suite]["twohop"]["cnstscore"]
        assert run["twohop"]["r2_r1_e1"] == from_model[suite]["twohop"]["r2_r1_e1"]
