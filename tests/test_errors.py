"""Bad input raises a clear Python exception; awkward but valid input works."""

import numpy as np
import pytest

import adanns


@pytest.fixture(scope="module")
def index():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((500, 16)).astype(np.float32)
    idx = adanns.IVFIndex(16, 8, coarse_dim=8)
    idx.train(xb)
    idx.add(xb)
    return idx


def q(n=3, d=16, dtype=np.float32):
    return np.random.default_rng(1).standard_normal((n, d)).astype(dtype)


def test_constructor_errors():
    with pytest.raises(ValueError, match="dim"):
        adanns.IVFIndex(0, 4)
    with pytest.raises(ValueError, match="nlist"):
        adanns.IVFIndex(8, 0)
    with pytest.raises(ValueError, match="coarse_dim"):
        adanns.IVFIndex(8, 4, coarse_dim=9)
    with pytest.raises(ValueError, match="coarse_dim"):
        adanns.IVFIndex(8, 4, coarse_dim=0)
    with pytest.raises(ValueError, match="metric"):
        adanns.IVFIndex(8, 4, metric="hamming")
    with pytest.raises(TypeError):
        adanns.IVFIndex(8.5, 4)
    with pytest.raises(TypeError):
        adanns.IVFIndex(8, True)
    with pytest.raises(TypeError, match="metric"):
        adanns.FlatIndex(8, metric=2)


def test_use_before_train():
    idx = adanns.IVFIndex(16, 4)
    with pytest.raises(RuntimeError, match="train"):
        idx.add(q())
    with pytest.raises(RuntimeError, match="train"):
        idx.search(q(), 1)


def test_train_errors():
    idx = adanns.IVFIndex(16, 64)
    with pytest.raises(ValueError, match="at least nlist"):
        idx.train(q(10))
    with pytest.raises(ValueError, match="dimensions"):
        idx.train(q(100, 15))


@pytest.mark.parametrize(
    "bad, exc, match",
    [
        (np.zeros((3, 15), np.float32), ValueError, "dimensions"),
        (np.zeros(16, np.float32), ValueError, "2-D"),
        (np.zeros((2, 3, 16), np.float32), ValueError, "2-D"),
        (np.zeros((3, 16), np.int32), TypeError, "float"),
        (np.zeros((3, 16), np.complex64), TypeError, "float"),
        (np.zeros((3, 16), bool), TypeError, "float"),
        (np.array([["a"] * 16]), TypeError, "float"),
    ],
)
def test_bad_query_arrays(index, bad, exc, match):
    with pytest.raises(exc, match=match):
        index.search(bad, 1)
    with pytest.raises(exc, match=match):
        index.add(bad)


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_values_rejected(index, value):
    x = q()
    x[1, 5] = value
    with pytest.raises(ValueError, match="NaN or infinite"):
        index.search(x, 1)
    with pytest.raises(ValueError, match="NaN or infinite"):
        index.add(x)
    n = index.ntotal
    assert index.ntotal == n


def test_search_parameter_ranges(index):
    x = q()
    for kw, match in [
        (dict(k=0), "k"),
        (dict(k=-1), "k"),
        (dict(k=index.ntotal + 1), "larger than"),
        (dict(k=1, nprobe=0), "nprobe"),
        (dict(k=1, nprobe=9), "nprobe"),
        (dict(k=1, scan_dim=0), "scan_dim"),
        (dict(k=1, scan_dim=17), "scan_dim"),
        (dict(k=1, rerank_k=-1), "rerank_k"),
        (dict(k=1, rerank_k=5, rerank_dim=17), "rerank_dim"),
        (dict(k=1, rerank_k=5, rerank_dim=0), "rerank_dim"),
    ]:
        with pytest.raises(ValueError, match=match):
            index.search(x, **kw)
    with pytest.raises(TypeError):
        index.search(x, k=1.5)
    with pytest.raises(TypeError):
        index.search(x, k=1, nprobe="2")


def test_bad_ids(index):
    x = q()
    with pytest.raises(ValueError, match="one id per vector"):
        index.add(x, ids=np.arange(2))
    with pytest.raises(TypeError, match="integer"):
        index.add(x, ids=np.arange(3, dtype=np.float64))
    with pytest.raises(ValueError, match=">= 0"):
        index.add(x, ids=np.array([1, -5, 2]))
    with pytest.raises(ValueError):
        index.add(x, ids=np.arange(3).reshape(3, 1))


def test_dtype_conversion_and_non_contiguous(index):
    x = q(5)
    ref = index.search(x, 4, nprobe=8)
    for variant in (x.astype(np.float64), np.asfortranarray(x), x.astype(np.float16).astype(np.float32)):
        D, I = index.search(variant, 4, nprobe=8)
        if variant.dtype == np.float64 or variant.flags.f_contiguous:
            np.testing.assert_array_equal(I, ref[1])
    big = np.zeros((5, 32), np.float32)
    big[:, ::2] = x
    np.testing.assert_array_equal(index.search(big[:, ::2], 4, nprobe=8)[1], ref[1])
    half = index.search(x.astype(np.float16), 4, nprobe=8)
    assert half[1].shape == (5, 4)
    lst = index.search(x.tolist(), 4, nprobe=8)
    np.testing.assert_array_equal(lst[1], ref[1])


def test_empty_batches(index):
    D, I = index.search(np.zeros((0, 16), np.float32), 3)
    assert D.shape == (0, 3) and I.shape == (0, 3)
    n = index.ntotal
    index.add(np.zeros((0, 16), np.float32))
    assert index.ntotal == n


def test_retrain_with_data_refused(index):
    with pytest.raises(RuntimeError, match="retrain"):
        index.train(q(100))


def test_rerank_k_larger_than_index_is_clamped(index):
    D, I = index.search(q(), 3, nprobe=8, rerank_k=10 * index.ntotal)
    assert (I >= 0).all()


def test_zero_vectors_cosine():
    idx = adanns.FlatIndex(8, "cosine")
    x = np.zeros((4, 8), np.float32)
    x[1, 0] = 1
    idx.add(x)
    D, I = idx.search(np.zeros((1, 8), np.float32), 4)
    assert np.isfinite(D).all() and (I >= 0).all()
    D, I = idx.search(x[1:2], 1)
    assert I[0, 0] == 1 and abs(D[0, 0] - 1) < 1e-6
