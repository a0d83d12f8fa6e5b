"""Save and load share one table of limits (adanns/_limits.py); vector values are bounded so that
float32 distances stay finite; cosine normalises denormal rows correctly (issue 15)."""

import re

import numpy as np
import pytest

import adanns
from adanns._limits import LIMITS
from adanns._validation import MAX_ID, max_abs_value

RNG = np.random.default_rng(0)
X = RNG.standard_normal((300, 8)).astype(np.float32)


def make(kind, metric="l2"):
    if kind == "ivf":
        return adanns.IVFIndex(8, 4, coarse_dim=4, metric=metric, niter=2)
    if kind == "flat":
        return adanns.FlatIndex(8, metric)
    if kind == "pq":
        return adanns.PQIndex(8, m=2, metric=metric, pq_niter=2)
    if kind == "ivfpq":
        return adanns.IVFPQIndex(8, 4, m=2, metric=metric, niter=2, pq_niter=2, opq=True, opq_niter=1)
    if kind == "graph":
        return adanns.GraphIndex(8, 8, degree=8, metric=metric)
    return adanns.GraphIndex(8, 8, degree=8, metric=metric, store="int8")


KINDS = ["ivf", "flat", "pq", "ivfpq", "graph", "graph_int8"]


def built(kind, x, metric="l2", ids=None):
    idx = make(kind, metric)
    if kind in ("ivf", "pq", "ivfpq"):
        idx.train(x)
    idx.add(x, ids)
    return idx


def roundtrip(idx, tmp_path):
    p = tmp_path / "i.adanns"
    idx.save(p)
    return adanns.load(p)


def search_kw(kind):
    return {"rerank_k": 10} if kind in ("pq", "ivfpq") else ({"nprobe": 4} if kind == "ivf" else {})


# ------------------------------------------------------------------ 1. saved => loadable
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [1e-42, 1e-20, 1e17])
def test_index_of_extreme_finite_values_round_trips(kind, scale, tmp_path):
    """Trained / built on denormal or large (but accepted) values: the file loads and searches alike."""
    x = X * np.float32(scale)
    for metric in ("l2", "cosine"):
        idx = built(kind, x, metric)
        back = roundtrip(idx, tmp_path)
        D0, I0 = idx.search(x[:5], 5, **search_kw(kind))
        D1, I1 = back.search(x[:5], 5, **search_kw(kind))
        np.testing.assert_array_equal(I0, I1)
        assert (I0 >= 0).all()


@pytest.mark.parametrize("cls", [adanns.IVFIndex, adanns.IVFPQIndex, adanns.PQIndex])
@pytest.mark.parametrize("opq", [False, True])
def test_untrained_index_round_trips(cls, opq, tmp_path):
    if cls is adanns.IVFIndex:
        if opq:
            pytest.skip("no opq")
        idx = cls(8, 4)
    elif cls is adanns.IVFPQIndex:
        idx = cls(8, 4, m=2, opq=opq)
    else:
        idx = cls(8, m=2, opq=opq)
    back = roundtrip(idx, tmp_path)
    assert not back.is_trained and back.ntotal == 0
    back.train(X)
    back.add(X[:20])
    assert back.search(X[:2], 3)[1].min() >= 0


@pytest.mark.parametrize("kind", KINDS)
def test_ids_near_int64_max(kind, tmp_path):
    idx = built(kind, X[:280], ids=np.arange(280))
    idx.add(X[280:281], ids=[MAX_ID])
    with pytest.raises(ValueError, match="largest id"):
        idx.add(X[281:283])  # default ids would pass 2**63 - 2
    with pytest.raises(ValueError, match="2\\*\\*63 - 2"):
        idx.add(X[281:282], ids=[MAX_ID + 1])
    assert idx.ntotal == 281
    back = roundtrip(idx, tmp_path)
    assert back.ntotal == 281
    assert back.search(X[280:281], 1, **search_kw(kind))[1][0, 0] == MAX_ID


CONSTRUCTOR_CASES = [
    (lambda: adanns.FlatIndex(2**20 + 1), "dim"),
    (lambda: adanns.IVFIndex(2**20 + 1, 2), "dim"),
    (lambda: adanns.GraphIndex(2**20 + 1), "dim"),
    (lambda: adanns.PQIndex(2**20 + 1, m=1), "dim"),
    (lambda: adanns.IVFIndex(8, 2, niter=2**20 + 1), "niter"),
    (lambda: adanns.IVFPQIndex(8, 2, m=2, niter=2**20 + 1), "niter"),
    (lambda: adanns.IVFIndex(8, 2, max_points_per_centroid=2**41), "max_points_per_centroid"),
    (lambda: adanns.IVFPQIndex(8, 2, m=2, max_points_per_centroid=2**41), "max_points_per_centroid"),
    (lambda: adanns.PQIndex(8, m=2, pq_niter=2**20 + 1), "pq_niter"),
    (lambda: adanns.PQIndex(8, m=2, opq_niter=2**20 + 1), "opq_niter"),
    (lambda: adanns.PQIndex(8, m=2, max_train=2**48 + 1), "max_train"),
    (lambda: adanns.IVFIndex(8, 2, transform=adanns.transforms.PCATransform(sample=2**62 + 1)), "sample"),
    (lambda: adanns.transforms.PCATransform(seed=-1), "seed"),
]


@pytest.mark.parametrize("case", range(len(CONSTRUCTOR_CASES)))
def test_constructor_refuses_what_load_would_refuse(case):
    make_it, name = CONSTRUCTOR_CASES[case]
    with pytest.raises(ValueError, match=name):
        make_it()


def test_constructor_accepts_the_loaders_maxima(tmp_path):
    idx = adanns.IVFPQIndex(8, 2, m=2, niter=LIMITS["niter"][1], pq_niter=LIMITS["pq_niter"][1],
                            opq_niter=LIMITS["opq_niter"][1], max_train=LIMITS["max_train"][1],
                            max_points_per_centroid=LIMITS["max_points_per_centroid"][1])
    back = roundtrip(idx, tmp_path)
    assert back.niter == LIMITS["niter"][1] and back.max_train == LIMITS["max_train"][1]
    ivf = adanns.IVFIndex(8, 2, niter=LIMITS["niter"][1], max_points_per_centroid=LIMITS["max_points_per_centroid"][1])
    assert roundtrip(ivf, tmp_path).max_points_per_centroid == LIMITS["max_points_per_centroid"][1]


# ------------------------------------------------------------------ 2. no silent wrong results
@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("value", [1e19, 1e30, 1e38])
def test_values_whose_squares_overflow_are_refused(kind, value):
    idx = make(kind)
    bound = max_abs_value(8)
    x = X.copy()
    x[3, 2] = value
    with pytest.raises(ValueError, match=re.escape(f"must be < {bound:.3g}")):
        idx.train(x) if kind in ("ivf", "pq", "ivfpq") else idx.add(x)
    ok = built(kind, X)
    with pytest.raises(ValueError, match="row 3"):
        ok.add(x)
    with pytest.raises(ValueError, match="row 3"):
        ok.search(x[:5], 2)
    assert ok.ntotal == 300


def test_bound_depends_on_dim():
    """2e37 at dim 768 overflows a squared distance; the bound is sqrt(FLT_MAX / (8 dim))."""
    assert max_abs_value(768) < 1e18 < max_abs_value(1)
    f = adanns.FlatIndex(768)
    x = np.zeros((2, 768), np.float32)
    x[0] = 2e37
    with pytest.raises(ValueError, match="dim=768"):
        f.add(x)
    x[0] = max_abs_value(768) * 0.999
    x[1] = -x[0]
    f.add(x)
    D, I = f.search(x, 2)
    assert np.isfinite(D).all() and (I >= 0).all()


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("scale", [1e-42, 1e-30])
def test_cosine_of_tiny_rows_is_exact(kind, scale):
    """Rows whose norm underflows float32 are normalised in double: self-similarity 1, no -1 ids."""
    x = X * np.float32(scale)
    idx = built(kind, x, "cosine")
    D, I = idx.search(x[:5], 5, **search_kw(kind))
    assert (I >= 0).all()
    np.testing.assert_array_equal(I[:, 0], np.arange(5))
    np.testing.assert_allclose(D[:, 0], 1.0, atol=1e-5)


def test_cosine_zero_rows_stay_zero():
    f = adanns.FlatIndex(8, "cosine")
    x = X[:4].copy()
    x[1] = 0
    f.add(x)
    D, I = f.search(x[:1], 4)
    assert (I >= 0).all() and np.isfinite(D).all()
