"""A probe added from outside the package (entry-point group ``pytest_qfacts.probes``) is recorded in the
scoring forward, lands in the report and in a stored baseline, and serves a later run from the baseline."""
import os
import textwrap

from plugin_helpers import CPU, KEEP, MODEL, read_report, requires_tiny, suite_yaml

TOY_PROBE = '''
"""Toy probe: the L2 norm of each layer's output at the last prompt token."""
import numpy as np

from pytest_qfacts.probes import Probe, ProbeBlock, Recording


def _allocate(ctx):
    return {"toy.norm": np.zeros((ctx.n_layers, ctx.n_items), np.float32)}


def _hooks(ctx):
    def hook_for(l):
        def hook(module, args, output):
            h = output[0] if isinstance(output, tuple) else output
            ctx.arrays["toy.norm"][l, ctx.batch.index] = ctx.batch.rows(h, "last").float().norm(dim=-1).cpu().numpy()
        return hook
    return [(ctx.layout.layers[l], "forward", hook_for(l)) for l in range(ctx.n_layers)]


def _compare(ref, quant):
    r, q = ref.arrays["toy.norm"].mean(1), quant.arrays["toy.norm"].mean(1)
    return ProbeBlock({"toy_norm_reference": r.tolist(), "toy_norm_quantized": q.tolist()},
                      {"norm_ratio": float(q.sum() / r.sum())})


PROBE = Probe(name="toy", summary="L2 norm of the last-token residual per layer",
              recordings=(Recording("toy", _allocate, _hooks),), storage={"toy.": "raw"}, compare=_compare,
              arrays=("toy.norm",))
'''


def _install_toy_probe(pytester):
    """A package with its dist-info (so importlib.metadata sees the entry point), on PYTHONPATH."""
    site = pytester.mkdir("site")
    (site / "toy_probe.py").write_text(textwrap.dedent(TOY_PROBE))
    info = site / "toy_probe-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-probe\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[pytest_qfacts.probes]\ntoy = toy_probe:PROBE\n")
    return os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])


@requires_tiny
def test_a_third_party_probe_is_in_the_report_and_in_the_baseline(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", _install_toy_probe(pytester))
    pytester.makefile(".qfacts.yaml", small=suite_yaml(n=3))
    first = pytester.runpytest_subprocess(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-probes=lens,toy",
                                          "--qfacts-update-baseline", "--qfacts-report=first.json")
    assert first.ret == 0, first.stdout.str()
    (run,) = read_report(pytester.path / "first.json")["runs"]
    assert run["probes"] == ["lens", "toy"]
    assert 0.5 < run["toy"]["norm_ratio"] < 2.0
    assert len(run["layers"]["toy_norm_reference"]) == 2            # tiny-facts has 2 decoder layers
    assert run["verdict"]["mode"] in ("intact", "signal_degradation", "computation_collapse")

    from pytest_qfacts.store.baseline import BaselineStore
    from pytest_qfacts.store.runs import read_run

    (stored,) = (pytester.path / ".qfacts" / "baselines").rglob("*.safetensors")
    key, _ = BaselineStore(pytester.path / ".qfacts" / "baselines").read_key(stored)
    assert "toy" in key.probes
    assert read_run(stored).arrays["toy.norm"].shape == (2, run["n_facts"])

    second = pytester.runpytest_subprocess(MODEL, CPU, f"--qfacts-quant={KEEP}", "--qfacts-probes=lens,toy",
                                           "--qfacts-baseline=require", "--qfacts-report=second.json")
    assert second.ret == 0, second.stdout.str()
    (again,) = read_report(pytester.path / "second.json")["runs"]
    assert again["reference"]["source"] == "baseline"
    assert again["layers"]["toy_norm_reference"] == run["layers"]["toy_norm_reference"]


@requires_tiny
def test_an_unknown_probe_name_lists_the_plug_ins(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", _install_toy_probe(pytester))
    result = pytester.runpytest_subprocess(MODEL, "--qfacts-probes=lens,nope")
    assert result.ret == 4
    result.stderr.fnmatch_lines(["*--qfacts-probes: unknown probe(s) nope; accepted: default, all, none, or any of "
                                 "lens, cka, ffn, attention, svd, neurons, toy, patching*"])
