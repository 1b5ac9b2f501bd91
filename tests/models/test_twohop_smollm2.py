"""Two-hop recall of SmolLM2-135M on a small lre-twohop sample under RTN W8 and W2."""
import pytest

from pytest_qfacts import assert_bridge_recall
from pytest_qfacts.assertions import ProbeGateFailure

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def runs():
    from pytest_qfacts.errors import ModelNotFoundError
    from pytest_qfacts.models.registry import resolve_model
    from pytest_qfacts.session import QFactsSession
    from pytest_qfacts.settings import Settings
    from pytest_qfacts.suites import load_suite

    try:
        resolve_model("smollm2-135m")
    except ModelNotFoundError as err:
        pytest.skip(str(err))
    suite = load_suite("lre-twohop").sample(2)  # 12 compositions x 2 = 24 two-hop items, 72 scored prompts
    session = QFactsSession(Settings(model="smollm2-135m", device="cpu", dtype="float32", quiet=True, batch_size=32))
    yield {recipe: session.compare(suite, recipe) for recipe in ("rtn-w8g64", "rtn-w2g64")}
    session.close()


def test_w8_keeps_the_two_hop_numbers(runs):
    tw = runs["rtn-w8g64"].extras["twohop"]
    assert tw["n"] == 24 and len(tw["entrec"]["reference"]) == 30 and tw["entrec"]["position"] == "mention_end"
    assert tw["r1_e1"]["reference"] > 0.2 and tw["r2_e2"]["reference"] > 0.2  # SmolLM2 knows some hops
    assert max(abs(d) for d in tw["entrec"]["drop"]) < 0.5
    assert abs(tw["cnstscore"]["quantized"] - tw["cnstscore"]["reference"]) < 0.3
    for hop in ("r1_e1", "r2_e2", "r2_r1_e1"):
        assert abs(tw[hop]["quantized"] - tw[hop]["reference"]) <= 0.1, hop
    assert_bridge_recall(runs["rtn-w8g64"], max_drop=1.0)


def test_w2_loses_the_bridge(runs):
    tw = runs["rtn-w2g64"].extras["twohop"]
    assert tw["r1_e1"]["quantized"] < tw["r1_e1"]["reference"] - 0.15
    assert tw["entrec"]["drop"][-1] > 2.0  # the last layer, where the reference's EntRec peaks
    assert tw["cnstscore"]["quantized"] < tw["cnstscore"]["reference"] - 3.0
    with pytest.raises(ProbeGateFailure, match=r"bridge entities lost for smollm2-135m \[rtn-w2g64\]"):
        assert_bridge_recall(runs["rtn-w2g64"], max_drop=1.0, layers=[-1])
