"""Every search path against exact numpy brute force at settings where it must be exact."""

import numpy as np
import pytest

import adanns
from adanns.datasets import synthetic_matryoshka
from reference import assert_matches, brute_force, built_ivf, out_scores, run_script, two_stage

METRICS = ["l2", "ip", "cosine"]


@pytest.fixture(scope="module")
def data():
    x = synthetic_matryoshka(3_000, 72, n_clusters=40, seed=3)
    return x[200:], x[:200].copy()


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("scan_dim", [72, 40, 7])
def test_ivf_full_probe_equals_brute_force_on_scan_prefix(data, metric, scan_dim):
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric)
    D, I = index.search(xq, 10, nprobe=16, scan_dim=scan_dim)
    Dr, Ir = brute_force(xb, xq, 10, metric, scan_dim)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, scan_dim))


@pytest.mark.parametrize("metric", METRICS)
def test_ivf_full_probe_with_full_rerank_equals_two_stage(data, metric):
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=16, metric=metric)
    D, I = index.search(xq, 10, nprobe=16, scan_dim=12, rerank_k=50)
    Dr, Ir = two_stage(xb, xq, 10, metric, 12, 50, 72)
    # the candidate set can differ only through near-ties on the scan prefix
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 72))


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_over_everything_is_exact_search(data, metric):
    xb, xq = data
    index = built_ivf(xb, 72, 8, coarse_dim=8, metric=metric)
    D, I = index.search(xq, 5, nprobe=8, scan_dim=3, rerank_k=index.ntotal)
    Dr, Ir = brute_force(xb, xq, 5, metric)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 72))


@pytest.mark.parametrize("metric", METRICS)
def test_rerank_dim_prefix(data, metric):
    xb, xq = data
    index = adanns.FlatIndex(72, metric)
    index.add(xb)
    D, I = index.search(xq, 10, scan_dim=8, rerank_k=100, rerank_dim=33)
    Dr, Ir = two_stage(xb, xq, 10, metric, 8, 100, 33)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 33))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("dim", [1, 5, 8, 31, 32, 33, 100])
def test_flat_equals_brute_force_for_odd_dims(metric, dim):
    rng = np.random.default_rng(dim)
    xb = rng.standard_normal((500, dim)).astype(np.float32)
    xq = rng.standard_normal((30, dim)).astype(np.float32)
    index = adanns.FlatIndex(dim, metric)
    index.add(xb)
    k = min(20, 500)
    D, I = index.search(xq, k)
    Dr, Ir = brute_force(xb, xq, k, metric)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, dim))


def test_custom_ids(data):
    xb, xq = data
    ids = np.arange(xb.shape[0], dtype=np.int64) * 7 + 1_000_000_000_000
    index = adanns.IVFIndex(72, 16, coarse_dim=24)
    index.train(xb)
    index.add(xb, ids=ids)
    D, I = index.search(xq, 10, nprobe=16)
    Dr, Ir = brute_force(xb, xq, 10, "l2")
    np.testing.assert_allclose(D, Dr, atol=2e-4 * max(1, np.abs(Dr).max()))
    assert np.isin(I, ids).all()
    # positions map back to the right rows
    pos = (I - 1_000_000_000_000) // 7
    np.testing.assert_allclose(np.take_along_axis(out_scores(xb, xq, "l2", 72), pos, 1), D, atol=1e-3)


def test_sequential_ids_continue_across_adds(data):
    xb, xq = data
    index = adanns.FlatIndex(72)
    index.add(xb[:1000])
    index.add(xb[1000:])
    D, I = index.search(xb[1500:1510], 1)
    assert I[:, 0].tolist() == list(range(1500, 1510))
    assert np.allclose(D[:, 0], 0, atol=1e-3)


def test_missing_results_are_minus_one():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((64, 8)).astype(np.float32)
    index = built_ivf(xb, 8, 16)
    D, I = index.search(xb[:5], 60, nprobe=1)
    sizes = index.list_sizes()
    assert (I == -1).any(), "one list of 64/16 rows cannot fill 60 results"
    for drow, irow in zip(D, I):
        found = irow >= 0
        assert found.sum() <= sizes.max()
        # valid results first, sorted; the rest -1 / +inf
        assert not (irow[found.argmin():] >= 0).any() or found.all()
        assert np.isinf(drow[~found]).all()
        assert (np.diff(drow[found]) >= 0).all()


def test_results_are_deterministic(data):
    xb, xq = data
    a = adanns.IVFIndex(72, 16, coarse_dim=24, metric="cosine", seed=5)
    b = adanns.IVFIndex(72, 16, coarse_dim=24, metric="cosine", seed=5)
    for idx in (a, b):
        idx.train(xb)
        idx.add(xb)
    np.testing.assert_array_equal(a.centroids(), b.centroids())
    r1 = a.search(xq, 10, nprobe=4, scan_dim=30, rerank_k=40)
    r2 = b.search(xq, 10, nprobe=4, scan_dim=30, rerank_k=40)
    r3 = a.search(xq[::-1], 10, nprobe=4, scan_dim=30, rerank_k=40)
    np.testing.assert_array_equal(r1[1], r2[1])
    np.testing.assert_array_equal(r1[1], r3[1][::-1])
    np.testing.assert_array_equal(r1[0], r2[0])


def test_single_query_matches_batch(data):
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24)
    D, I = index.search(xq, 10, nprobe=3, scan_dim=40, rerank_k=30)
    for i in range(0, 200, 37):
        d1, i1 = index.search(xq[i : i + 1], 10, nprobe=3, scan_dim=40, rerank_k=30)
        np.testing.assert_array_equal(i1[0], I[i])
        np.testing.assert_allclose(d1[0], D[i], rtol=1e-6)


def test_approximate_results_are_consistent(data):
    """At nprobe < nlist every returned distance is the true one for that id, sorted."""
    xb, xq = data
    for metric in METRICS:
        index = built_ivf(xb, 72, 32, coarse_dim=20, metric=metric)
        D, I = index.search(xq, 10, nprobe=2, scan_dim=50)
        ref = out_scores(xb, xq, metric, 50)
        ok = I >= 0
        np.testing.assert_allclose(D[ok], np.take_along_axis(ref, np.where(ok, I, 0), 1)[ok], atol=2e-4 * max(1, np.abs(ref).max()))
        sign = 1 if metric == "l2" else -1
        assert (np.diff(sign * D, axis=1)[ok[:, 1:]] >= -1e-6).all()


def test_search_stats_per_stage():
    """search(stats=...) reports every stage's thread time and exact work counters."""
    rng = np.random.default_rng(3)
    xb = rng.standard_normal((3000, 40)).astype(np.float32)
    xq = rng.standard_normal((50, 40)).astype(np.float32)
    index = adanns.IVFIndex(dim=40, nlist=16, coarse_dim=8, metric="l2")
    index.train(xb)
    index.add(xb)
    st = adanns.SearchStats()
    D, I = index.search(xq, 5, nprobe=16, scan_dim=12, rerank_k=20, stats=st)
    D0, I0 = index.search(xq, 5, nprobe=16, scan_dim=12, rerank_k=20)
    np.testing.assert_array_equal(I, I0)  # asking for figures does not change the answer
    assert st.nq == 50
    assert st.rows_scanned == 50 * 3000        # every list probed: every row scored per query
    assert st.candidates_reranked == 50 * 20   # the shortlist of every query re-scored
    assert st.coarse_s > 0 and st.scan_s > 0 and st.rerank_s > 0 and st.output_s >= 0
    assert st.rerank_ns_per_candidate() > 0
    index.search(xq, 5, nprobe=2, stats=st)     # accumulates; no rerank stage
    assert st.nq == 100 and st.candidates_reranked == 50 * 20
    pq = adanns.IVFPQIndex(dim=40, nlist=16, coarse_dim=8, pq_dim=16, m=4, keep_full="ram")
    pq.train(xb)
    pq.add(xb)
    s2 = adanns.SearchStats()
    pq.search(xq, 5, nprobe=4, rerank_k=10, stats=s2)
    assert s2.nq == 50 and s2.candidates_reranked == 50 * 10 and s2.rows_scanned > 0


@pytest.mark.parametrize("rerank_k", [0, 40])
def test_ties_keep_the_first_rows(rerank_k):
    """Equal distances: the shortlists keep the lowest (list, row) labels, i.e. the first rows added."""
    rng = np.random.default_rng(7)
    x = np.repeat(rng.standard_normal((1, 8)).astype(np.float32), 300, axis=0)
    x = np.concatenate([rng.standard_normal((300, 8)).astype(np.float32) + 10, x])  # ties at rows 300..599
    index = adanns.FlatIndex(8, "l2")
    index.add(x)
    D, I = index.search(np.repeat(x[300:301], 3, axis=0), 10, scan_dim=8, rerank_k=rerank_k)
    np.testing.assert_array_equal(I, np.tile(np.arange(300, 310), (3, 1)))
    assert (D == 0).all()


def test_thread_counts_give_identical_results(tmp_path):
    """One thread and three (other query chunks, other rerank rounds) return identical results,
    ties and rerank included."""
    code = """
        import sys
        import numpy as np
        import adanns
        from adanns.datasets import synthetic_matryoshka
        x = synthetic_matryoshka(6000, 64, seed=11)
        x[3000:3200] = x[3000]  # exact ties
        index = adanns.IVFIndex(64, 24, coarse_dim=16, metric="ip", seed=0)
        index.train(x)
        index.add(x)
        xq = np.concatenate([x[:300], x[3000:3010]])
        out = []
        for kw in (dict(nprobe=6), dict(nprobe=6, scan_dim=48, rerank_k=12), dict(nprobe=6, scan_dim=8, rerank_k=60),
                   dict(nprobe=24, scan_dim=16, rerank_k=200)):
            D, I = index.search(xq, 10, **kw)
            out += [D, I]
        # Long shortlists: chunks bounded by their memory, reranked in several rounds (4 rounds
        # of one chunk on one thread; a round of 5 chunks and one of 1 on three).
        out += list(index.search(x[:2900], 10, nprobe=24, scan_dim=16, rerank_k=1500))
        # Few pairs for many lists: the pairs are bucketed on one thread (3 threads: 3 chunks of
        # 2 queries, 60 pairs < 3 x 24 lists), with a table on one.
        out += list(index.search(x[:6], 10, nprobe=24, scan_dim=16, rerank_k=10))
        np.savez(sys.argv[1], *out)
    """
    res = []
    for threads in (1, 3):
        path = tmp_path / f"r{threads}.npz"
        r = run_script(tmp_path, code, path, env={"OMP_NUM_THREADS": str(threads)})
        assert r.returncode == 0, r.stderr
        res.append(np.load(path))
    assert len(res[0].files) == 12
    for name in res[0].files:
        np.testing.assert_array_equal(res[0][name], res[1][name])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_probe_is_the_exact_top_nprobe_with_ties(metric):
    """The coarse probe returns the nprobe nearest centroids by (distance, list number), ties
    included, whether or not its selection starts from the block-minimum threshold (nprobe at
    most nlist // 8) or not. Small integer coordinates: every distance is exact in float32."""
    rng = np.random.default_rng(3)
    nlist, d = 203, 12
    c = rng.integers(-3, 4, (nlist, d)).astype(np.float32)
    c[100:140] = c[0:40]  # duplicated centroids: tied distances
    index = adanns.IVFIndex(d, nlist, metric=metric)
    index._core.set_centroids(c)
    q = rng.integers(-3, 4, (50, d)).astype(np.float32)
    dist = (c**2).sum(1)[None, :] - 2 * q @ c.T if metric == "l2" else -(q @ c.T)
    order = np.array([sorted(range(nlist), key=lambda j: (dist[i, j], j)) for i in range(len(q))])
    for nprobe in (1, 7, 25, 26, 60, 203):
        np.testing.assert_array_equal(index._core.probe(q, nprobe, 0), order[:, :nprobe])


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_probe_on_a_prefix_follows_new_centroids(metric):
    """Probing on probe_dim < coarse_dim packs the centroid prefixes once per probe_dim and keeps
    them: the probe stays exact when probe_dim changes back and forth and after the centroids
    are replaced."""
    rng = np.random.default_rng(4)
    nlist, d = 64, 16
    q = rng.integers(-3, 4, (30, d)).astype(np.float32)
    index = adanns.IVFIndex(d, nlist, metric=metric)

    def reference(c, pd):
        qp, cp = q[:, :pd], c[:, :pd]
        dist = (cp**2).sum(1)[None, :] - 2 * qp @ cp.T if metric == "l2" else -(qp @ cp.T)
        return np.array([sorted(range(nlist), key=lambda j: (dist[i, j], j))[:5] for i in range(len(q))])

    for seed in (0, 1):
        c = np.random.default_rng(seed).integers(-3, 4, (nlist, d)).astype(np.float32)
        index._core.set_centroids(c)
        for pd in (4, 9, 4, 0, 9):
            np.testing.assert_array_equal(index._core.probe(q, 5, pd), reference(c, pd or d))


@pytest.mark.parametrize("k", [1, 3, 10, 31, 32, 33, 70])
def test_every_k_is_exact_with_ties_across_compactions(data, k):
    """The shortlists are compacted whenever 2k entries qualify: every k, small and large, gives
    the exact top-k with and without a rerank, with 41 equal rows (ties across compactions)."""
    xb, xq = data
    xb = np.concatenate([xb, np.repeat(xb[:1], 40, axis=0)])  # 41 equal rows: ties across a compaction
    xq = np.concatenate([xq[:30], xb[:2]])
    index = built_ivf(xb, 72, 8, coarse_dim=24, metric="l2")
    Dr, Ir = brute_force(xb, xq, k, "l2")
    scores = out_scores(xb, xq, "l2", 72)
    for kw in (dict(nprobe=8), dict(nprobe=8, scan_dim=16, rerank_k=index.ntotal)):
        D, I = index.search(xq, k, **kw)
        assert_matches(D, I, Dr, Ir, scores)
