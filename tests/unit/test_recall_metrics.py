"""Gold ranks, accuracy, median rank and the exact McNemar test (pytest_qfacts.metrics.recall)."""
import math

import numpy as np
import pytest

from pytest_qfacts.metrics.recall import (accuracy, gold_rank, mcnemar_exact, median_rank,
                                          ranks_from_logits)

#                 0    1    2    3    4    5
LOGITS = np.array([1.0, 5.0, 3.0, 5.0, -2.0, 3.0])


@pytest.mark.parametrize("ids, rank", [
    ([1], 1),        # tied for the top with token 3: ties favour the gold token
    ([3], 1),
    ([2], 3),        # below 1 and 3; tied with 5
    ([5], 3),
    ([0], 5),        # below 1, 3, 2, 5
    ([4], 6),        # last
    ([4, 0], 5),     # best of several gold ids
    ([4, 2, 0], 3),
])
def test_gold_rank_by_hand(ids, rank):
    assert gold_rank(LOGITS, ids) == rank


def test_gold_rank_edge_cases():
    assert gold_rank(np.array([2.0, 2.0, 2.0]), [2]) == 1
    nan = np.array([1.0, np.nan, 0.5])
    assert gold_rank(nan, [1]) == 3          # NaN gold ranks last
    assert gold_rank(nan, [2]) == 2          # NaN elsewhere does not outrank
    with pytest.raises(ValueError):
        gold_rank(LOGITS, [])
    with pytest.raises(ValueError):
        gold_rank(LOGITS, [6])


def test_vectorised_equals_scalar():
    rng = np.random.default_rng(0)
    logits = rng.integers(-3, 4, size=(50, 40)).astype(np.float32)  # many ties
    gold = rng.integers(0, 40, size=50)
    ranks = ranks_from_logits(logits, gold)
    assert ranks.dtype == np.int64
    assert ranks.tolist() == [gold_rank(logits[i], [gold[i]]) for i in range(50)]
    multi = np.stack([gold, rng.integers(0, 40, size=50), np.full(50, -1)], axis=1)
    multi[::3, 1] = -1
    expected = [gold_rank(logits[i], [t for t in multi[i] if t >= 0]) for i in range(50)]
    assert ranks_from_logits(logits, multi).tolist() == expected


def test_vectorised_blocks(monkeypatch):
    import pytest_qfacts.metrics.recall as recall
    monkeypatch.setattr(recall, "_BLOCK", 7)  # forces one row per block
    logits = np.array([LOGITS, -LOGITS])
    assert ranks_from_logits(logits, np.array([2, 4])).tolist() == [3, 1]


def test_vectorised_rejects_bad_input():
    with pytest.raises(ValueError):
        ranks_from_logits(LOGITS, np.array([1]))
    with pytest.raises(ValueError):
        ranks_from_logits(LOGITS[None], np.array([1, 2]))
    with pytest.raises(ValueError):
        ranks_from_logits(LOGITS[None], np.array([[-1, -1]]))
    with pytest.raises(ValueError):
        ranks_from_logits(LOGITS[None], np.array([6]))


@pytest.mark.parametrize("b, c, p", [
    (0, 0, 1.0),
    (0, 5, 2 * (1 / 32)),
    (5, 0, 0.0625),
    (1, 9, 2 * (1 + 10) / 1024),
    (7, 7, 1.0),
    (3, 4, 1.0),               # 2 * P[X <= 3 | n=7] = 2 * 64/128 = 1
    (2, 8, 2 * (1 + 10 + 45) / 1024),
    (0, 1, 1.0),
])
def test_mcnemar_by_hand(b, c, p):
    assert mcnemar_exact(b, c) == pytest.approx(p, rel=1e-12)


def test_mcnemar_large_and_symmetric():
    assert mcnemar_exact(4900, 5100) == mcnemar_exact(5100, 4900)
    assert 0 < mcnemar_exact(4900, 5100) < 1
    assert mcnemar_exact(0, 10000) == 0.0  # 2 / 2**10000 underflows
    assert mcnemar_exact(np.int64(1), np.int64(9)) == pytest.approx(22 / 1024)
    with pytest.raises(ValueError):
        mcnemar_exact(-1, 3)
    with pytest.raises(TypeError):
        mcnemar_exact(1.5, 3)


@pytest.mark.parametrize("b, c", [(0, 5), (1, 9), (3, 17), (20, 35), (250, 300), (4900, 5100),
                                  (12, 12), (0, 60)])
def test_mcnemar_matches_scipy(b, c):
    stats = pytest.importorskip("scipy.stats")
    expected = stats.binomtest(min(b, c), b + c, 0.5, alternative="two-sided").pvalue
    assert mcnemar_exact(b, c) == pytest.approx(expected, rel=1e-9, abs=1e-300)


def test_accuracy_and_median():
    assert accuracy([True, False, True, True]) == 0.75
    assert accuracy(np.array([], dtype=bool)) == 0.0
    assert accuracy([]) == 0.0
    assert median_rank([1, 7, 3]) == 3.0
    assert median_rank(np.array([1, 2, 10, 40])) == 6.0
    assert math.isnan(median_rank([]))
