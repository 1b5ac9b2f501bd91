"""pytest-xdist: four workers that all want the same baseline; results gathered on the controller."""
import json

import pytest
from plugin_helpers import CPU, KEEP, MODEL, lossy_yaml, read_report, requires_tiny, summary_rows

pytest.importorskip("xdist", reason="pytest-xdist is not installed (pip install pytest-xdist)")

TESTS = """
def test_gate(qfacts_pair):
    c = qfacts_pair.compare("lossy.qfacts.yaml")
    assert c.summary.n == 8
"""


@requires_tiny
def test_four_workers_write_one_baseline_and_all_read_it(pytester):
    pytester.makefile(".qfacts.yaml", lossy=lossy_yaml(gate="{max_drop: 1.0}"))
    pytester.makepyfile(test_gate=TESTS)
    result = pytester.runpytest_subprocess(MODEL, CPU, f"--qfacts-quant={KEEP}", "-p", "xdist", "-n", "4",
                                           "--dist", "each", "--qfacts-update-baseline", "--qfacts-report=r.json")
    assert result.ret == 0, result.stdout.str()
    files = list((pytester.path / ".qfacts").rglob("*"))
    stored = [f for f in files if f.is_file()]
    assert len(stored) == 1 and stored[0].suffix == ".safetensors", files   # exactly one file, no temporary left
    from pytest_qfacts.store.baseline import BaselineStore

    key, _ = BaselineStore(pytester.path / ".qfacts" / "baselines").read_key(stored[0])   # a valid baseline
    assert key.suite == "lossy"

    (run,) = read_report(pytester.path / "r.json")["runs"]        # one run, merged on the controller
    workers = run["workers"]
    assert sorted(w["worker"] for w in workers) == ["gw0", "gw1", "gw2", "gw3"]
    assert {w["reference_source"] for w in workers} == {"baseline"}  # every worker read the stored file
    assert sum(w["baseline_written"] for w in workers) == 1          # and exactly one wrote it
    assert run["gate"]["checked"] == 4 * 3                           # (2 YAML relations + 1 test) per worker, merged
    rows = summary_rows(result.stdout.lines)                          # the summary, printed by the controller
    assert len(rows) == 1 and "lossy" in rows[0]
