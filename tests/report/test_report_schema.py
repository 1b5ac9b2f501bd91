"""The published JSON Schema of the report (pytest_qfacts/report/report.schema.json) accepts every report
the tests write and rejects broken ones."""
import copy
import json
from pathlib import Path

import pytest

import pytest_qfacts

jsonschema = pytest.importorskip("jsonschema", reason='jsonschema is a test dependency: pip install -e ".[test]"')
SCHEMA = json.loads((Path(pytest_qfacts.__file__).parent / "report" / "report.schema.json").read_text())


def _validator():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def real_report(tmp_path_factory) -> dict:
    """A report of the plugin's own pipeline: tiny-facts, every probe, a one-hop and a two-hop suite, saved
    as a file and read back (what users parse)."""
    from pytest_qfacts.report.json_report import write_report_dict
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings
    from pytest_qfacts.suites import load_suite

    session = QFactsSession(Settings(model="tiny-facts", device="cpu", quiet=True, baseline="off",
                                     probes=("lens", "cka", "ffn", "attention", "svd", "neurons", "patching")))
    try:
        for name in ("tiny-facts-onehop", "tiny-facts-twohop"):
            session.compare(load_suite(name).sample(2), "rtn-w4g64")
        path = tmp_path_factory.mktemp("schema") / "report.json"
        write_report_dict(path, session.report())
    finally:
        session.close()
    return json.loads(path.read_text(encoding="utf-8"))


def test_the_schema_is_a_valid_draft_2020_12_schema():
    _validator()


def test_a_real_report_validates(real_report):
    assert {"verdict", "layers", "lens", "neurons", "patching", "subsets", "paraphrase"} <= set(real_report["runs"][0])
    assert "twohop" in real_report["runs"][1]
    errors = sorted(_validator().iter_errors(real_report), key=str)
    assert errors == []


@pytest.mark.parametrize("damage, where", [
    (lambda r: r.pop("complete"), "'complete' is a required property"),
    (lambda r: r["runs"][0].pop("suite_hash"), "'suite_hash' is a required property"),
    (lambda r: r["runs"][0]["reference"].update(source="somewhere"), "'somewhere' is not one of ['model', 'baseline']"),
    (lambda r: r["runs"][0]["verdict"].update(mode="fine"), "'fine' is not one of"),
    (lambda r: r["runs"][0]["facts"][0].update(reference_rank=0), "0 is less than the minimum of 1"),
])
def test_a_broken_report_is_rejected_naming_the_field(real_report, damage, where):
    report = copy.deepcopy(real_report)
    damage(report)
    messages = [e.message for e in _validator().iter_errors(report)]
    assert any(where in m for m in messages), messages
