"""Several Python threads using one index at once (the core releases the GIL)."""

import numpy as np

import adanns
from reference import assert_concurrent_searches_match, built_ivf, run_while_searching
from adanns.datasets import synthetic_matryoshka


def test_concurrent_searches_are_correct():
    x = synthetic_matryoshka(20_000, 48, seed=5)
    xb, xq = x[1000:], x[:1000].copy()
    index = built_ivf(xb, 48, 64, coarse_dim=16, metric="cosine")
    settings = [dict(nprobe=4), dict(nprobe=8, scan_dim=20, rerank_k=50), dict(nprobe=64, scan_dim=48)]
    assert_concurrent_searches_match(index, xq, settings, threads=6, rounds=6)


def test_search_while_adding():
    """Searches running while another thread adds see a consistent index (before or after each add)."""
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((6000, 24)).astype(np.float32)
    index = adanns.IVFIndex(24, 16)
    index.train(xb)
    index.add(xb[:2000])
    xq = xb[:50]

    def check():
        D, I = index.search(xq, 1, nprobe=16)
        assert (I[:, 0] == np.arange(50)).all()  # the first rows are always present, exact
        assert np.allclose(D[:, 0], 0, atol=1e-4)

    def add_rest():
        for b in range(2000, 6000, 500):
            index.add(xb[b : b + 500])

    run_while_searching(check, add_rest)
    assert index.ntotal == 6000
