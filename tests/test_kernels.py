"""The AVX2 and scalar kernels agree; a whole search is the same under ADANNS_SIMD=scalar."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adanns
from adanns import _core

KINDS = {"l2": 0, "ip": 1, "ipnorm": 2}


def ref_scan(kind, q, X, w):
    q = q[:w].astype(np.float64)
    Xw = X[:, :w].astype(np.float64)
    if kind == 0:
        return ((Xw - q) ** 2).sum(1), np.zeros(len(X))
    return Xw @ q, (Xw * Xw).sum(1) if kind == 2 else np.zeros(len(X))


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("impl", ["scalar", "avx2"])
def test_scan_kernels_match_numpy(kind, impl):
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    rng = np.random.default_rng(kind)
    for m in (1, 2, 3, 4, 7):
        for n in (0, 1, 3, 4, 7, 8, 9, 33):
            for stride in (1, 5, 8, 13, 32, 50):
                for w in sorted({1, stride // 2 or 1, stride}):
                    X = rng.standard_normal((n, stride)).astype(np.float32)
                    Q = rng.standard_normal((m, stride + 2)).astype(np.float32)
                    out, xn = _core.scan(kind, Q, X, w, impl)
                    assert out.shape == (m, n)
                    for i in range(m):
                        ra, rn = ref_scan(kind, Q[i], X, w)
                        np.testing.assert_allclose(out[i], ra, rtol=1e-4, atol=1e-4)
                    if kind == 2 and n:
                        np.testing.assert_allclose(xn, rn, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("impl", ["scalar", "avx2"])
def test_scan_values_do_not_depend_on_the_tile_and_equal_the_rerank(kind, impl):
    """A (query, row) value is the same bits alone, in any block of queries and rows, at any
    position, and the same as the rerank kernel's (so a scan partial and a rerank add up alike)."""
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    rng = np.random.default_rng(20 + kind)
    for w in (3, 8, 21, 64):
        X = rng.standard_normal((11, w + 5)).astype(np.float32)
        Q = rng.standard_normal((7, w + 1)).astype(np.float32)
        out, xn = _core.scan(kind, Q, X, w, impl)
        for i in (0, 3, 6):
            for r in (0, 5, 10):
                one, xn1 = _core.scan(kind, Q[i : i + 1], X[r : r + 1], w, impl)
                assert one[0, 0] == out[i, r]
                assert kind != 2 or xn1[0] == xn[r]
        sub, _ = _core.scan(kind, np.ascontiguousarray(Q[::-1]), np.ascontiguousarray(X[2:9]), w, impl)
        np.testing.assert_array_equal(sub[::-1], out[:, 2:9])
        for r in (0, 4, 10):
            rr, _ = _core.rerank(kind, X[r], Q, w, impl)
            np.testing.assert_array_equal(rr, out[:, r])


@pytest.mark.parametrize("kind", [0, 1, 2])
@pytest.mark.parametrize("impl", ["scalar", "avx2"])
def test_rerank_kernels_match_numpy_and_do_not_depend_on_grouping(kind, impl):
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    rng = np.random.default_rng(10 + kind)
    for m in (1, 2, 3, 4, 5, 9):
        for w in (1, 7, 8, 13, 32, 50):
            Q = rng.standard_normal((m, w + 3)).astype(np.float32)
            x = rng.standard_normal(w + 3).astype(np.float32)
            out, xn = _core.rerank(kind, x, Q, w, impl)
            ref, refn = ref_scan(kind, x, Q, w)
            np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-4)
            if kind == 2:
                assert abs(xn - (x[:w].astype(np.float64) ** 2).sum()) < 1e-3
            # a query's value is bit-identical alone, in any group and at any position
            for i in range(m):
                alone, xn1 = _core.rerank(kind, x, Q[i : i + 1], w, impl)
                assert alone[0] == out[i]
                assert kind != 2 or xn1 == xn
            rev, _ = _core.rerank(kind, x, np.ascontiguousarray(Q[::-1]), w, impl)
            np.testing.assert_array_equal(rev[::-1], out)


def test_simd_level_reported():
    assert adanns.simd_level() in ("avx512", "avx2", "scalar")
    env = os.environ.get("ADANNS_SIMD")
    if _core.cpu_has_avx512f() and env not in ("scalar", "avx2"):
        assert adanns.simd_level() == "avx512"
    elif _core.cpu_has_avx2() and env != "scalar":
        assert adanns.simd_level() == "avx2"
    # the int8 scan and graph gathers follow the table: SIMD forms whenever it is not scalar
    chosen = _core.chosen_kernels()
    assert chosen["table"] == adanns.simd_level()
    assert chosen["sq8_tile_scalar"] == chosen["gather_scalar"] == (chosen["table"] == "scalar")


@pytest.mark.parametrize("dim", [16, 32, 384])
def test_list_rows_start_on_a_cache_line(dim):
    # With malloc's 16-byte alignment a 32-dim float prefix straddles 3 cache lines instead of 2
    # and a 256-dim rerank tail 17 instead of 16; lists grown by appends (reallocated, small and
    # large arrays) must start on a line.
    for n in (1, 5, 100, 3000):
        assert set(_core.list_row_offsets(7, dim, n)) == {0}


def _impls():
    out = ["scalar"]
    if _core.cpu_has_avx2():
        out.append("avx2")
    if _core.cpu_has_avx512f():
        out.append("avx512")
    return out


@pytest.mark.parametrize("impl", ["scalar", "avx2", "avx512"])
def test_select_kernels_list_the_indices_at_or_under_the_threshold(impl):
    if impl not in _impls():
        pytest.skip(f"CPU without {impl}")
    rng = np.random.default_rng(7)
    for n in (0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 255, 256, 1000):
        d = rng.standard_normal(n).astype(np.float32)
        if n > 3:
            d[[0, n // 2, n - 1]] = [np.nan, np.inf, -np.inf]
        for thr in (-np.inf, -1.0, 0.0, float(d[n // 3]) if n else 0.0, 2.5, np.inf):
            got = _core.select_le(d, thr, impl)
            with np.errstate(invalid="ignore"):
                want = np.flatnonzero(d <= np.float32(thr))
            np.testing.assert_array_equal(got, want)
    # no NaN is ever selected, even with an infinite or NaN threshold
    d = np.full(20, np.nan, np.float32)
    assert _core.select_le(d, np.inf, impl).size == 0
    assert _core.select_le(np.zeros(20, np.float32), np.nan, impl).size == 0


@pytest.mark.parametrize("impl", ["scalar", "avx2", "avx512"])
def test_kth_kernels_give_the_value_of_each_rank(impl):
    if impl not in _impls():
        pytest.skip(f"CPU without {impl}")
    rng = np.random.default_rng(11)
    for n in (1, 2, 7, 8, 9, 15, 16, 17, 18, 31, 33, 64, 200, 1001):
        for data in ("normal", "ties", "equal", "sorted", "partitioned"):
            a = rng.standard_normal(n).astype(np.float32)
            if data == "ties":
                a = np.round(a * 2).astype(np.float32)
            elif data == "equal":
                a[:] = 1.5
            elif data == "sorted":
                a.sort()
            elif data == "partitioned":  # as a compacted shortlist leaves it
                a = np.concatenate([np.sort(a[: n // 2])[::-1], a[n // 2:]]).astype(np.float32)
            if n > 4:
                a[[1, n - 2]] = [-np.inf, np.inf]
            ref = np.sort(a)
            for k in sorted({0, n // 3, n // 2, n - 1}):
                assert _core.kth(a, k, impl) == ref[k], (n, data, k)


@pytest.mark.parametrize("impl", ["scalar", "avx2", "avx512"])
@pytest.mark.parametrize("k", [1, 3, 10, 100])
def test_shortlist_keeps_exactly_the_k_smallest_pairs(impl, k):
    # TopKBuffer fed by push_run (runs of random lengths, ties, NaN, inf, a bound) keeps exactly
    # the k smallest (distance, label) pairs, ties broken by label, whatever the selection kernel.
    if impl not in _impls():
        pytest.skip(f"CPU without {impl}")
    rng = np.random.default_rng(k)
    for trial in range(30):
        n = int(rng.integers(0, 3000))
        d = rng.standard_normal(n).astype(np.float32)
        if trial % 3 == 0:
            d = np.round(d * 4) / 4  # many ties
        if n > 10:
            d[rng.integers(0, n, 5)] = np.nan
            d[rng.integers(0, n, 3)] = np.inf
        runs = []
        left = n
        while left:
            runs.append(min(left, int(rng.integers(1, 600))))
            left -= runs[-1]
        bound = np.inf if trial % 2 else float(np.float32(0.5))
        D, L = _core.topk_runs(d, runs, k, bound, impl)
        with np.errstate(invalid="ignore"):
            keep = np.flatnonzero(d <= np.float32(bound))
        order = keep[np.lexsort((keep, d[keep]))][:k]
        m = len(order)
        np.testing.assert_array_equal(L[:m], order)
        np.testing.assert_array_equal(D[:m], d[order])
        assert (L[m:] == -1).all() and np.isinf(D[m:]).all()


def test_scalar_path_gives_same_search_results(tmp_path):
    code = textwrap.dedent(
        """
        import numpy as np, adanns, sys
        from adanns.datasets import synthetic_matryoshka
        x = synthetic_matryoshka(5000, 70, seed=1)
        out = []
        for metric in ("l2", "ip", "cosine"):
            idx = adanns.IVFIndex(70, 16, coarse_dim=30, metric=metric, seed=2)
            idx.train(x)
            idx.add(x)
            D, I = idx.search(x[:200], 10, nprobe=4, scan_dim=45, rerank_k=40)
            out += [D, I]
        np.savez(sys.argv[1], *out, level=adanns.simd_level())
        """
    )
    results = {}
    for level in ("default", "scalar"):
        env = dict(os.environ)
        env.pop("ADANNS_SIMD", None)
        if level == "scalar":
            env["ADANNS_SIMD"] = "scalar"
        path = tmp_path / f"{level}.npz"
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, cwd=str(tmp_path))
        results[level] = np.load(path)
    assert str(results["scalar"]["level"]) == "scalar"
    a, b = results["default"], results["scalar"]
    for i in range(0, 6, 2):
        np.testing.assert_allclose(a[f"arr_{i}"], b[f"arr_{i}"], rtol=1e-4, atol=1e-4)
        same = (a[f"arr_{i + 1}"] == b[f"arr_{i + 1}"]).mean()
        assert same > 0.99, same  # only float near-ties may differ
