"""Gates that bad input can neither fool nor crash: a reference that does not know the facts, usage errors
reached through the fixtures, `qfacts run` exit codes, interrupted runs, baselines of an edited suite."""
import json
import subprocess
import sys
import textwrap

import pytest
import yaml

import pytest_qfacts

TINY_ONEHOP = pytest_qfacts.__file__.replace("__init__.py", "models/tiny_facts/onehop.qfacts.yaml")
MODEL, CPU = "--qfacts-model=tiny-facts", "--qfacts-device=cpu"


def _capitals(n: int = 6, *, shifted: bool = False, name: str = "caps") -> str:
    """``n`` country_capital facts of tiny-facts; ``shifted``: each country given the next one's capital
    (facts the reference cannot know)."""
    rel = yaml.safe_load(open(TINY_ONEHOP, encoding="utf-8"))["relations"][0]
    facts = rel["facts"][:n]
    objects = [f["object"] for f in facts]
    if shifted:
        objects = objects[1:] + objects[:1]
    lines = [f"qfacts: 1\nname: {name}\nrelations:\n  - name: {rel['name']}\n    templates: {json.dumps(rel['templates'])}",
             "    facts:"] + [f"      - {{subject: {f['subject']}, object: {o}}}" for f, o in zip(facts, objects)]
    return "\n".join(lines) + "\n"


def test_a_reference_that_does_not_know_the_facts_fails_the_gate(pytester):
    pytester.makefile(".qfacts.yaml", unknown=_capitals(shifted=True))
    result = pytester.runpytest_subprocess(MODEL, CPU, "--qfacts-quant=rtn-w2g64", "--qfacts-report=r.json")
    assert result.ret == 1
    result.stdout.fnmatch_lines([
        "qfacts gate failed: tiny-facts [rtn-w2g64] on suite 'caps'",
        "  relation 'country_capital': the reference recalls only 0.0% of these 6 prompts (< min_reference_accuracy "
        "20.0%): the reference does not know these facts, so this gate cannot detect a loss; fix the suite "
        "(prompts, objects) or lower --qfacts-min-reference-accuracy"])
    (run,) = json.loads((pytester.path / "r.json").read_text())["runs"]
    assert run["reference"]["top1"] == 0.0 and run["drop"] == 0.0   # a drop of 0 that would have passed


def test_the_floor_is_an_option_and_a_suite_key(pytester):
    pytester.makefile(".qfacts.yaml", unknown=_capitals(shifted=True) + "gate: {min_reference_accuracy: 0.0}\n")
    assert pytester.runpytest_subprocess(MODEL, CPU, "--qfacts-quant=rtn-w8g64").ret == 0
    pytester.makefile(".qfacts.yaml", unknown=_capitals(shifted=True))
    assert pytester.runpytest_subprocess(MODEL, CPU, "--qfacts-quant=rtn-w8g64",
                                         "--qfacts-min-reference-accuracy=0").ret == 0


def test_a_recipe_that_cannot_apply_fails_the_fixture_test_in_one_line(pytester):
    """rtn-w4g100 on tiny-facts (128 wide): the same clean message through qfacts_pair as on a YAML item."""
    pytester.makepyfile(test_pair="""
        def test_pair(qfacts_pair):
            qfacts_pair.compare("capitals")
    """)
    result = pytester.runpytest_subprocess(MODEL, CPU, "--qfacts-quant=rtn-w4g100")
    assert result.ret == 1
    out = result.stdout.str()
    assert "Traceback" not in out and "During handling" not in out and "pytest_qfacts/" not in out, out
    result.stdout.fnmatch_lines(["qfacts: recipe 'rtn-w4g100': module 'model.layers.0.self_attn.q_proj' has "
                                 "in_features=128, which group size 100 does not divide*"])


def _qfacts(*args, cwd):
    return subprocess.run([sys.executable, "-m", "pytest_qfacts.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=600)


def test_qfacts_run_exits_1_when_a_gate_fails_and_0_when_it_holds(tmp_path):
    (tmp_path / "caps.qfacts.yaml").write_text(_capitals())
    failing = _qfacts("run", "--model", "tiny-facts", "--quant", "rtn-w2g64", "--suite", "caps.qfacts.yaml",
                      "--device", "cpu", "--probes", "none", "--max-drop", "0.05", "--report", "r.json", "-q", cwd=tmp_path)
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "qfacts gate failed: tiny-facts [rtn-w2g64] on suite 'caps'" in failing.stderr
    (run,) = json.loads((tmp_path / "r.json").read_text())["runs"]
    assert run["gate"] == {"passed": False, "checked": 1, "failed": 1}
    holding = _qfacts("run", "--model", "tiny-facts", "--quant", "rtn-w8g64", "--suite", "caps.qfacts.yaml",
                      "--device", "cpu", "--probes", "none", "-q", cwd=tmp_path)
    assert holding.returncode == 0, holding.stdout + holding.stderr
    assert "PASS" in holding.stdout


def test_qfacts_run_usage_error_exits_2(tmp_path):
    bad = _qfacts("run", "--model", "tiny-facts", "--quant", "rtn-w8g64", "--suite", "nope-suite", cwd=tmp_path)
    assert bad.returncode == 2
    assert bad.stderr.startswith("error: ") and "nope-suite" in bad.stderr and "Traceback" not in bad.stderr


def test_an_interrupted_run_writes_a_report_marked_incomplete(pytester):
    pytester.makepyfile(test_stop="""
        def test_one(qfacts_pair):
            qfacts_pair.compare("tiny-facts-onehop")

        def test_two():
            raise KeyboardInterrupt
    """)
    result = pytester.runpytest_subprocess(MODEL, CPU, "--qfacts-quant=rtn-w8g64", "--qfacts-probes=none",
                                           "--qfacts-report=r.json")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    report = json.loads((pytester.path / "r.json").read_text())
    assert report["complete"] is False
    assert report["incomplete_reason"] == "the test run was interrupted after 1 run(s); rerun it for a complete report"
    assert len(report["runs"]) == 1


def test_require_names_the_baseline_of_the_suite_before_it_was_edited(pytester):
    pytester.makefile(".qfacts.yaml", caps=_capitals(6))
    common = (MODEL, CPU, "--qfacts-quant=rtn-w8g64", "--qfacts-probes=none")
    assert pytester.runpytest_subprocess(*common, "--qfacts-update-baseline").ret == 0
    pytester.makefile(".qfacts.yaml", caps=_capitals(5))   # one fact removed
    result = pytester.runpytest_subprocess(*common, "--qfacts-baseline=require")
    assert result.ret == 1
    out = " ".join(result.stdout.str().split())
    assert "--qfacts-baseline=require: no stored baseline for model 'tiny-facts' on suite 'caps'" in out
    assert (f"or `qfacts baseline --model tiny-facts --suite {pytester.path / 'caps.qfacts.yaml'} "
            f"--dir {pytester.path / '.qfacts' / 'baselines'}`.") in out
    assert "A baseline of another version of suite 'caps' exists:" in out
    assert "1 prompt(s) removed: [country_capital] 'The capital of Shaepork is' -> 'Zeisheil'" in out
    assert "the suite was edited since it was stored." in out


@pytest.mark.slow
def test_smollm2_a_suite_the_reference_does_not_know_fails_the_gate(pytester):
    from pytest_qfacts.errors import ModelNotFoundError
    from pytest_qfacts.models.registry import resolve_model

    try:
        resolve_model("smollm2-135m")
    except ModelNotFoundError as err:
        pytest.skip(str(err))
    pytester.makefile(".qfacts.yaml", unknown=textwrap.dedent("""
        qfacts: 1
        name: unknown
        relations:
          - name: country_capital
            templates: ["The capital of {subject} is"]
            facts:
              - {subject: France, object: Tokyo}
              - {subject: Japan, object: Madrid}
              - {subject: Spain, object: Berlin}
              - {subject: Germany, object: Paris}
    """))
    result = pytester.runpytest_subprocess("--qfacts-model=smollm2-135m", CPU, "--qfacts-quant=rtn-w2g64",
                                           "--qfacts-probes=none")
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*relation 'country_capital': the reference recalls only 0.0% of these 4 prompts "
                                 "(< min_reference_accuracy 20.0%): the reference does not know these facts*"])
