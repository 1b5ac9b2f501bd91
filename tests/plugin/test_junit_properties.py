"""JUnit XML: every test that compared a run carries its key numbers as <property> entries."""
import xml.etree.ElementTree as ET

from plugin_helpers import CPU, KEEP, LOSE, MODEL, requires_tiny, suite_yaml


@requires_tiny
def test_junit_xml_has_the_key_numbers(pytester):
    (pytester.path / "small.yaml").write_text(suite_yaml(n=2))
    pytester.makepyfile(test_p="""
        def test_pair(qfacts_pair, qfacts_suite):
            qfacts_pair.compare(qfacts_suite("small.yaml"))
    """)
    pytester.runpytest(MODEL, CPU, f"--qfacts-quant={KEEP},{LOSE}", "--junitxml=out.xml").assert_outcomes(passed=2)
    cases = {case.get("name"): {p.get("name"): p.get("value") for p in case.iter("property")}
             for case in ET.parse(pytester.path / "out.xml").getroot().iter("testcase")}
    keep = cases[f"test_pair[{KEEP}]"]
    assert keep[f"qfacts[{KEEP}][small].verdict"] == "intact"
    assert float(keep[f"qfacts[{KEEP}][small].reference_top1"]) > 0.5
    lose = cases[f"test_pair[{LOSE}]"]
    assert int(lose[f"qfacts[{LOSE}][small].lost"]) >= 0 and f"qfacts[{LOSE}][small].drop" in lose
    assert not any(name.startswith(f"qfacts[{KEEP}]") for name in lose)
