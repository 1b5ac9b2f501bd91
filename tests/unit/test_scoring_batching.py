"""Length-sorted batching and left padding, on hand-built sequences."""
import pytest

from pytest_qfacts.scoring.batching import left_pad, length_sorted_batches


def test_batches_are_sorted_by_length_and_cover_every_index():
    lengths = [5, 2, 9, 2, 7]
    batches = length_sorted_batches(lengths, 2)
    assert batches == [[1, 3], [0, 4], [2]]
    assert sorted(i for b in batches for i in b) == list(range(5))


def test_batch_size_must_be_positive():
    with pytest.raises(ValueError, match="batch size"):
        length_sorted_batches([1, 2], 0)


def test_left_padding_and_position_ids():
    ids, mask, positions = left_pad([[7, 8, 9], [5]], pad_id=0)
    assert ids.tolist() == [[7, 8, 9], [0, 0, 5]]
    assert mask.tolist() == [[1, 1, 1], [0, 0, 1]]
    assert positions.tolist() == [[0, 1, 2], [0, 0, 0]]
