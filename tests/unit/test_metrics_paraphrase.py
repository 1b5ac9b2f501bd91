"""Paraphrase robustness (metrics/paraphrase.py, compare/paraphrase.py) and the robust/failure
subsets (metrics/subsets.py, compare/subsets.py), on hand-built scores."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from pytest_qfacts.compare.comparison import compare_scores
from pytest_qfacts.compare.paraphrase import paraphrase_block, paraphrase_groups
from pytest_qfacts.compare.subsets import subsets_block
from pytest_qfacts.errors import QFactsUsageError
from pytest_qfacts.metrics import paraphrase as m
from pytest_qfacts.metrics.subsets import subset_mask
from pytest_qfacts.record.scores import FactScores
from pytest_qfacts.suites import load_suite_text


def _brute_consistency(pred, groups):
    agree = total = 0
    for g in set(groups):
        idx = [i for i, x in enumerate(groups) if x == g]
        for i, j in itertools.combinations(idx, 2):
            total += 1
            agree += pred[i] == pred[j]
    return agree / total if total else float("nan")


def test_consistency_counts_agreeing_pairs():
    # fact 0: predictions a, a, b -> 1 of 3 pairs agree; fact 1: c, c -> 1 of 1; fact 2 is a singleton (ignored)
    pred = np.array([1, 1, 2, 3, 3, 9])
    groups = np.array([0, 0, 0, 1, 1, 2])
    assert m.pair_counts(pred, groups) == (2, 4)
    assert m.consistency(pred, groups) == pytest.approx(0.5)
    assert m.n_groups(groups) == 2


def test_consistency_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(30):
        n = int(rng.integers(1, 25))
        groups = rng.integers(0, 6, size=n)
        pred = rng.integers(0, 3, size=n)
        expected = _brute_consistency(list(pred), list(groups))
        got = m.consistency(pred, groups)
        assert (math.isnan(got) and math.isnan(expected)) or got == pytest.approx(expected)


def test_accuracy_over_paraphrases_and_all_correct():
    correct = np.array([1, 1, 0, 1, 1, 0], bool)
    groups = np.array([0, 0, 0, 1, 1, 2])
    assert m.accuracy_over_paraphrases(correct, groups) == pytest.approx((2 / 3 + 1) / 2)  # per-fact mean
    assert m.all_paraphrases_correct(correct, groups) == pytest.approx(0.5)
    assert math.isnan(m.consistency(np.array([1, 2]), np.array([0, 1])))
    assert math.isnan(m.accuracy_over_paraphrases(np.array([True]), np.array([0])))


SUITE = """
qfacts: 1
name: para
relations:
  - name: capital
    templates: ["The capital of {subject} is", "{subject}'s capital is", "The capital city of {subject} is"]
    facts:
      - {subject: France, object: Paris}
      - {subject: Spain, object: Madrid}
      - {prompt: "Big Ben stands in", object: London}
  - name: single
    templates: ["{subject} speaks"]
    facts: [{subject: Ann, object: English}, {subject: Bob, object: French}]
"""


def _scores(top1, pred) -> FactScores:
    n = len(top1)
    top1 = np.array(top1, bool)
    ids = np.zeros((n, 2), np.int64)
    ids[:, 0] = pred
    return FactScores(np.where(top1, 1, 7), top1, np.zeros(n), np.zeros(n), ids, np.zeros((n, 2), np.float32),
                      [["t", "u"]] * n)


def test_paraphrase_groups_follow_the_facts():
    items = load_suite_text(SUITE).items()
    # France x3, Spain x3, Big Ben (own prompt), Ann, Bob
    assert list(paraphrase_groups(items)) == [0, 0, 0, 1, 1, 1, 2, 3, 4]


def test_paraphrase_block_reference_vs_quantized():
    items = load_suite_text(SUITE).items()
    ref = _scores([1, 1, 1, 1, 1, 0, 1, 1, 1], [5, 5, 5, 6, 6, 8, 4, 1, 2])
    quant = _scores([1, 0, 0, 0, 0, 0, 1, 1, 1], [5, 9, 7, 6, 6, 6, 4, 1, 2])
    block = paraphrase_block(items, ref, quant)
    assert block["facts"] == 2 and block["pairs"] == 6
    assert block["consistency"] == {"reference": pytest.approx(4 / 6), "quantized": pytest.approx(3 / 6)}
    assert block["accuracy"] == {"reference": pytest.approx((1 + 2 / 3) / 2), "quantized": pytest.approx((1 / 3 + 0) / 2)}
    assert block["all_correct"] == {"reference": 0.5, "quantized": 0.0}
    assert [r["relation"] for r in block["relations"]] == ["capital"]  # 'single' has no paraphrases


def test_paraphrase_block_without_paraphrases_is_null():
    items = load_suite_text(SUITE).subset(["single"]).items()
    block = paraphrase_block(items, _scores([1, 1], [1, 2]), _scores([1, 0], [1, 3]))
    assert block["facts"] == 0 and block["consistency"] == {"reference": None, "quantized": None}
    assert block["relations"] == []


# -- robust / failure subsets ----------------------------------------------------------


def test_subset_masks():
    ref = np.array([1, 1, 0, 0, 1], bool)
    quant = np.array([1, 0, 1, 0, 0], bool)
    assert list(subset_mask("robust", ref, quant)) == [True, False, False, False, False]
    assert list(subset_mask("failure", ref, quant)) == [False, True, False, False, True]
    with pytest.raises(ValueError, match="accepted: robust, failure"):
        subset_mask("lost", ref, quant)


def _comparison():
    suite = load_suite_text(SUITE)
    ref = _scores([1, 1, 1, 1, 1, 0, 1, 1, 0], [5] * 9)
    quant = _scores([1, 0, 0, 1, 1, 1, 0, 1, 0], [5] * 9)
    return suite, compare_scores(suite.items(), ref, quant, model="m", recipe="r", suite=suite.name)


def test_subsets_block_and_suites_for_the_probes():
    suite, c = _comparison()
    block = subsets_block(c)
    assert block["robust"] == {"n": 4, "fraction": pytest.approx(4 / 9), "indices": [0, 3, 4, 7],
                               "relations": {"capital": 3, "single": 1}}
    assert block["failure"]["indices"] == [1, 2, 6] and block["failure"]["n"] == 3
    failing = c.subset_suite("failure")
    items = suite.items()
    assert [(i.relation, i.prompt, i.object) for i in failing.items()] == \
           [(items[k].relation, items[k].prompt, items[k].object) for k in (1, 2, 6)]
    assert failing.items()[0].subject_span == items[1].subject_span  # the probes find the subject again
    assert failing.name == "para:failure[r]"
    robust = c.subset_suite("robust")
    assert len(robust.items()) == 4 and robust.content_hash() != failing.content_hash()
    with pytest.raises(QFactsUsageError, match="unknown subset 'lost'"):
        c.subset_suite("lost")


def test_empty_subset_is_a_clear_error():
    suite = load_suite_text(SUITE)
    ones = _scores([1] * 9, [5] * 9)
    c = compare_scores(suite.items(), ones, ones, model="m", recipe="r", suite=suite.name)
    with pytest.raises(QFactsUsageError, match="failure subset of m \\[r\\] on suite 'para' is empty"):
        c.subset_suite("failure")
