"""Several Python threads using one index at once (the core releases the GIL)."""

import threading

import numpy as np

import adanns
from reference import built_ivf
from adanns.datasets import synthetic_matryoshka


def test_concurrent_searches_are_correct():
    x = synthetic_matryoshka(20_000, 48, seed=5)
    xb, xq = x[1000:], x[:1000].copy()
    index = built_ivf(xb, 48, 64, coarse_dim=16, metric="cosine")
    settings = [dict(nprobe=4), dict(nprobe=8, scan_dim=20, rerank_k=50), dict(nprobe=64, scan_dim=48)]
    expected = [index.search(xq, 10, **s) for s in settings]
    errors = []

    def worker(t):
        try:
            for r in range(6):
                s = (t + r) % len(settings)
                lo = (t * 97 + r * 31) % 900
                D, I = index.search(xq[lo : lo + 100], 10, **settings[s])
                np.testing.assert_array_equal(I, expected[s][1][lo : lo + 100])
                np.testing.assert_array_equal(D, expected[s][0][lo : lo + 100])
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors, errors[0]


def test_search_while_adding():
    """Searches running while another thread adds see a consistent index (before or after each add)."""
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((6000, 24)).astype(np.float32)
    index = adanns.IVFIndex(24, 16)
    index.train(xb)
    index.add(xb[:2000])
    xq = xb[:50]
    errors = []
    stop = threading.Event()

    def searcher():
        try:
            while not stop.is_set():
                D, I = index.search(xq, 1, nprobe=16)
                assert (I[:, 0] == np.arange(50)).all()  # the first rows are always present, exact
                assert np.allclose(D[:, 0], 0, atol=1e-4)
        except Exception as e:  # pragma: no cover
            errors.append(e)

    ts = [threading.Thread(target=searcher) for _ in range(3)]
    for t in ts:
        t.start()
    for b in range(2000, 6000, 500):
        index.add(xb[b : b + 500])
    stop.set()
    for t in ts:
        t.join()
    assert not errors, errors[0]
    assert index.ntotal == 6000
