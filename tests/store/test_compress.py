"""store.compress: the stated CKA error bound holds, and sign packing is lossless."""
import numpy as np
import pytest

from pytest_qfacts.metrics.cka import linear_cka
from pytest_qfacts.store import compress as cmp


def _activations(rng, n=300, h=96, rank=40, outliers=3):
    """Low-rank structure + noise + a few massive channels, like a residual stream."""
    x = rng.normal(size=(n, rank)) @ rng.normal(size=(rank, h)) + 0.3 * rng.normal(size=(n, h))
    x[:, :outliers] *= 25
    return x.astype(np.float32)


@pytest.mark.parametrize("max_error", [0.002, 0.01, 0.05])
@pytest.mark.parametrize("keep_basis", [True, False])
def test_cka_error_within_stated_bound(max_error, keep_basis):
    rng = np.random.default_rng(0)
    x = np.stack([_activations(rng) for _ in range(3)])
    parts, meta = cmp.compress(x, max_error, keep_basis=keep_basis)
    xr = cmp.decompress(parts, meta["shape"])
    assert all(b <= max_error + 1e-12 for b in meta["cka_error_bound"])
    for l in range(3):
        for y in (x[l] + rng.normal(scale=s, size=x[l].shape) for s in (0.1, 1.0, 5.0)):
            true, approx = linear_cka(x[l], y), linear_cka(xr[l], y)
            assert abs(true - approx) <= meta["cka_error_bound"][l] + 1e-3, (true, approx)


def test_bound_is_tight_enough_to_matter():
    """A rank too small for the data gives a large bound, and the error it allows really occurs."""
    rng = np.random.default_rng(1)
    x = _activations(rng, rank=60, outliers=0)[None]
    parts, meta = cmp.compress(x, 0.3)
    y = x[0] + rng.normal(scale=2.0, size=x[0].shape)
    err = abs(linear_cka(x[0], y) - linear_cka(cmp.decompress(parts, meta["shape"])[0], y))
    assert 0.0 < err <= meta["cka_error_bound"][0] + 1e-3
    assert meta["ranks"][0] < 60


def test_reconstruction_with_basis_is_close():
    rng = np.random.default_rng(2)
    x = _activations(rng)[None]
    parts, meta = cmp.compress(x, 1e-4)
    xr = cmp.decompress(parts, meta["shape"])
    rel = np.linalg.norm(xr - x) / np.linalg.norm(x - x.mean(1, keepdims=True))
    assert rel <= meta["frobenius_error"][0] + 2e-3


def test_smaller_than_raw_for_low_rank_data():
    rng = np.random.default_rng(3)
    x = np.stack([_activations(rng, rank=10) for _ in range(2)])
    parts, _ = cmp.compress(x, 0.01)
    assert sum(a.nbytes for a in parts.values()) < x.nbytes / 3


def test_sign_planes_are_lossless():
    rng = np.random.default_rng(4)
    signs = rng.integers(-1, 2, size=(3, 17, 29)).astype(np.int8)
    assert np.array_equal(cmp.unpack_signs(cmp.pack_signs(signs), signs.shape), signs)
