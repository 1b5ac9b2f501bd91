"""The test file a team writes: gate each quantized recipe on the built-in capitals suite.

Run it with, for example:
    pytest examples/ --qfacts-model=smollm2-135m --qfacts-quant=rtn-w8g64,rtn-w2g64
Each recipe is its own test id: test_capitals_survive[rtn-w8g64], test_capitals_survive[rtn-w2g64].
"""
from pytest_qfacts import assert_recall_retained


def test_capitals_survive(qfacts_pair, qfacts_suite):
    result = qfacts_pair.compare(qfacts_suite("capitals"))
    assert_recall_retained(result, max_drop=0.02)


def test_no_relation_collapses(qfacts_pair, qfacts_suite):
    """A looser bound, applied to every relation of the example suite on its own."""
    result = qfacts_pair.compare(qfacts_suite("examples/world.qfacts.yaml"))
    assert_recall_retained(result, max_drop=0.10, per_relation=True)
