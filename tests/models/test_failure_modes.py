"""The failure-mode verdict and the probe assertions on real models under RTN W8/W4/W2."""
import pytest

from pytest_qfacts import assert_cka_above, assert_failure_mode, assert_signal_present, assert_top_neurons_retained
from pytest_qfacts.assertions import ProbeGateFailure

EXPECTED = {"rtn-w8g64": "intact", "rtn-w4g64": "signal_degradation", "rtn-w2g64": "computation_collapse"}


def _session(model, probes=("lens", "cka", "ffn")):
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings

    return QFactsSession(Settings(model=model, quiet=True, probes=tuple(probes)))


@pytest.fixture(scope="module")
def tiny_runs():
    from pytest_qfacts.suites import load_suite

    session = _session("tiny-facts", probes=("lens", "cka", "ffn", "neurons"))
    suite = load_suite("tiny-facts-onehop").subset(["country_capital", "city_country", "person_birthplace"])
    yield {recipe: session.compare(suite, recipe) for recipe in EXPECTED}
    session.close()


@pytest.mark.parametrize("recipe", list(EXPECTED))
def test_tiny_facts_verdict_orders_w8_w4_w2(tiny_runs, recipe):
    result = tiny_runs[recipe]
    assert result.extras["verdict"]["mode"] == EXPECTED[recipe], result.extras["verdict"]["reasons"]
    assert len(result.extras["layers"]["cka_last_token"]) == 2


def test_assertions_pass_at_w8(tiny_runs):
    result = tiny_runs["rtn-w8g64"]
    assert_failure_mode(result)
    assert_cka_above(result, floor=0.95)
    assert_signal_present(result, min_ratio=0.9)
    assert_top_neurons_retained(result, min_fraction=0.8)


def test_assertions_fail_at_w2_naming_layers_and_numbers(tiny_runs):
    result = tiny_runs["rtn-w2g64"]
    with pytest.raises(ProbeGateFailure, match=r"failure mode 'computation_collapse'.*\n.*accuracy_ratio"):
        assert_failure_mode(result, allowed={"intact", "signal_degradation"})
    with pytest.raises(ProbeGateFailure, match=r"CKA \(last_token\) below floor 0.8 .* layer 1: 0\.\d+"):
        assert_cka_above(result, floor=0.8)
    with pytest.raises(ProbeGateFailure, match=r"gold signal lost.*\n.*ratio 0\.\d+ < min_ratio 0\.50.*\n.*\n    layer \d+: "):
        assert_signal_present(result)
    with pytest.raises(ProbeGateFailure, match=r"retained .* of the reference's top 300 neurons per fact"):
        assert_top_neurons_retained(result, min_fraction=0.9)


def test_missing_probe_is_a_clear_error():
    from pytest_qfacts.suites import load_suite

    session = _session("tiny-facts", probes=())
    result = session.compare(load_suite("tiny-facts-onehop").subset(["country_capital"]), "rtn-w8g64")
    with pytest.raises(ProbeGateFailure, match=r"needs the 'cka' probe.*--qfacts-probes=all"):
        assert_cka_above(result)
    assert "verdict" not in result.to_report()
    session.close()


@pytest.mark.slow
@pytest.mark.parametrize("suite_name", ["capitals", "lre-country_capital_city"])
def test_smollm2_verdict_orders_w8_w4_w2(suite_name):
    from pytest_qfacts.suites import load_suite

    session = _session("smollm2-135m")
    suite = load_suite(suite_name)
    modes = {recipe: session.compare(suite, recipe).extras["verdict"]["mode"] for recipe in EXPECTED}
    session.close()
    assert modes == EXPECTED


def test_patching_alone_runs_without_in_pass_probes():
    from pytest_qfacts.suites import load_suite

    session = _session("tiny-facts", probes=())
    result = session.compare(load_suite("tiny-facts-onehop").subset(["country_capital"]), "rtn-w4g64", probes=["patching"])
    assert result.extras["probes"] == ["patching"] and result.extras["patching"]["forwards"] > 0
    assert "verdict" not in result.extras and "layers" not in result.extras
    session.close()
