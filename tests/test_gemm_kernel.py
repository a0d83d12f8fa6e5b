"""The GEMM-form kernels (many points x many centroids) against numpy, AVX-512, AVX2 and scalar,
and the k-means assignment / coarse probing built on them."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adanns
from adanns import _core

IMPLS = ["scalar", "avx2", "avx512"]


def _skip_if_no_avx2(impl):
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    if impl == "avx512" and not _core.cpu_has_avx512f():
        pytest.skip("CPU without AVX-512F")


def _ref(X, C, bias, alpha):
    out = alpha * (X.astype(np.float64) @ C.astype(np.float64).T)
    if bias is not None:
        out += bias.astype(np.float64)[None, :]
    return out


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_matches_numpy_odd_sizes(impl):
    _skip_if_no_avx2(impl)
    rng = np.random.default_rng(7)
    for n in range(1, 14):
        for k in (1, 2, 5, 8, 15, 16, 17, 23, 31, 32, 33, 40):
            for d in (1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 50, 64, 70):
                X = rng.standard_normal((n, d)).astype(np.float32)
                C = rng.standard_normal((k, d)).astype(np.float32)
                bias = (C * C).sum(1).astype(np.float32)
                for b, alpha in ((bias, -2.0), (None, -1.0), (None, 1.0)):
                    (out,) = _core.gemm(X, C, b, alpha, impl)
                    assert out.shape == (n, k)
                    np.testing.assert_allclose(out, _ref(X, C, b, alpha), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_argmin_matches_numpy_odd_sizes(impl):
    _skip_if_no_avx2(impl)
    rng = np.random.default_rng(11)
    for n in range(1, 14):
        for k in (1, 3, 15, 16, 17, 33, 40):
            for d in (1, 5, 8, 13, 16, 17, 50, 70):
                X = rng.standard_normal((n, d)).astype(np.float32)
                C = rng.standard_normal((k, d)).astype(np.float32)
                bias = (C * C).sum(1).astype(np.float32)
                for b, alpha in ((bias, -2.0), (None, -1.0)):
                    best, bd = _core.gemm(X, C, b, alpha, impl, True)
                    (full,) = _core.gemm(X, C, b, alpha, impl)
                    # Exactly the first minimum of the same kernel's full output.
                    np.testing.assert_array_equal(best, np.argmin(full, axis=1))
                    np.testing.assert_array_equal(bd, full[np.arange(n), best])
                    ref = _ref(X, C, b, alpha)
                    np.testing.assert_allclose(bd, ref.min(1), rtol=1e-4, atol=1e-4)
                    # The chosen centroid is optimal up to float rounding.
                    assert np.all(ref[np.arange(n), best] <= ref.min(1) + 1e-4 * (1 + np.abs(ref.min(1))))


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_argmin_ties_go_to_lower_index(impl):
    _skip_if_no_avx2(impl)
    rng = np.random.default_rng(3)
    d = 9
    base = rng.standard_normal((5, d)).astype(np.float32)
    # 37 centroids: copies of 5 distinct rows, so every point has exact ties across panels.
    C = base[np.arange(37) % 5]
    X = base[rng.integers(0, 5, size=13)] + np.float32(0.01) * rng.standard_normal((13, d)).astype(np.float32)
    bias = (C * C).sum(1).astype(np.float32)
    for b, alpha in ((bias, -2.0), (None, -1.0)):
        best, _ = _core.gemm(X, C, b, alpha, impl, True)
        (full,) = _core.gemm(X, C, b, alpha, impl)
        np.testing.assert_array_equal(best, np.argmin(full, axis=1))
        assert np.all(best < 5)
    # All-zero problem: every distance ties; the answer is column 0.
    best, bd = _core.gemm(np.zeros((7, 3), np.float32), np.zeros((40, 3), np.float32), None, -1.0, impl, True)
    np.testing.assert_array_equal(best, 0)
    np.testing.assert_array_equal(bd, 0)


@pytest.mark.parametrize("impl", IMPLS)
def test_gemm_argmin_ignores_nan_and_inf_padding(impl):
    _skip_if_no_avx2(impl)
    X = np.ones((3, 4), np.float32)
    C = np.ones((17, 4), np.float32)
    bias = np.full(17, np.inf, np.float32)
    bias[16] = 5.0  # the only finite distance sits alone in the zero-padded tail panel
    best, bd = _core.gemm(X, C, bias, -2.0, impl, True)
    np.testing.assert_array_equal(best, 16)
    np.testing.assert_allclose(bd, 5.0 - 8.0)
    bias[:] = np.nan
    best, bd = _core.gemm(X, C, bias, -2.0, impl, True)
    np.testing.assert_array_equal(best, 0)
    assert np.all(np.isinf(bd))


def test_avx2_and_scalar_agree_on_large_problem():
    if not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    rng = np.random.default_rng(5)
    X = rng.standard_normal((1000, 37)).astype(np.float32)
    C = rng.standard_normal((300, 37)).astype(np.float32)
    bias = (C * C).sum(1).astype(np.float32)
    (a,) = _core.gemm(X, C, bias, -2.0, "avx2")
    (s,) = _core.gemm(X, C, bias, -2.0, "scalar")
    np.testing.assert_allclose(a, s, rtol=1e-5, atol=1e-4)
    ba, _ = _core.gemm(X, C, bias, -2.0, "avx2", True)
    bs, _ = _core.gemm(X, C, bias, -2.0, "scalar", True)
    assert (ba == bs).mean() > 0.99


def test_avx512_gemm_gives_the_avx2_bits():
    """The AVX-512F GEMM runs each (point, centroid) chain as the AVX2 one does: the same bits,
    full output and argmin (value and column), for every block and panel remainder."""
    if not _core.cpu_has_avx512f():
        pytest.skip("CPU without AVX-512F")
    rng = np.random.default_rng(6)
    for n, k, d in ((1, 1, 1), (13, 17, 5), (49, 33, 64), (100, 300, 37), (61, 1233, 128)):
        X = rng.standard_normal((n, d)).astype(np.float32)
        C = rng.standard_normal((k, d)).astype(np.float32)
        bias = (C * C).sum(1).astype(np.float32)
        for b, alpha in ((bias, -2.0), (None, -1.0)):
            (a5,) = _core.gemm(X, C, b, alpha, "avx512")
            (a2,) = _core.gemm(X, C, b, alpha, "avx2")
            np.testing.assert_array_equal(a5, a2)
            b5, d5 = _core.gemm(X, C, b, alpha, "avx512", True)
            b2, d2 = _core.gemm(X, C, b, alpha, "avx2", True)
            np.testing.assert_array_equal(b5, b2)
            np.testing.assert_array_equal(d5, d2)


def test_gemm_hook_rejects_bad_input():
    X = np.zeros((3, 4), np.float32)
    with pytest.raises(ValueError):
        _core.gemm(X, np.zeros((5, 3), np.float32), None, -1.0, "scalar")
    with pytest.raises(ValueError):
        _core.gemm(X, np.zeros((5, 4), np.float32), np.zeros(4, np.float32), -1.0, "scalar")
    with pytest.raises(ValueError):
        _core.gemm(X, np.zeros((5, 4), np.float32), None, -1.0, "sse9")


def _nearest(x, c, ip):
    if ip:
        return np.argmax(x.astype(np.float64) @ c.T.astype(np.float64), axis=1)
    d = ((x.astype(np.float64)[:, None, :] - c.astype(np.float64)[None, :, :]) ** 2).sum(-1)
    return np.argmin(d, axis=1)


@pytest.mark.parametrize("spherical", [False, True])
def test_kmeans_is_a_fixed_point_of_lloyd(spherical):
    rng = np.random.default_rng(2)
    centers = rng.standard_normal((6, 11)).astype(np.float32) * 5
    x = (centers[rng.integers(0, 6, 3000)] + rng.standard_normal((3000, 11))).astype(np.float32)
    if spherical:
        x /= np.linalg.norm(x, axis=1, keepdims=True)
    kw = dict(niter=30, seed=3, spherical=spherical, kmeanspp=True, max_points_per_centroid=0)
    c = _core.kmeans(x, 6, **kw)
    assert c.shape == (6, 11) and np.isfinite(c).all()
    a = _nearest(x, c, spherical)
    assert len(np.unique(a)) == 6
    # After convergence each centroid is (close to) the mean of the points assigned to it.
    for j in range(6):
        m = x[a == j].mean(0)
        if spherical:
            m /= np.linalg.norm(m)
        np.testing.assert_allclose(c[j], m, rtol=1e-3, atol=1e-3)
    # Deterministic.
    np.testing.assert_array_equal(c, _core.kmeans(x, 6, **kw))


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_add_assigns_to_nearest_centroid_and_probe_agrees(metric):
    rng = np.random.default_rng(4)
    d, nlist = 21, 37  # odd sizes: a zero-padded tail panel, d not a multiple of 8
    x = rng.standard_normal((2000, d)).astype(np.float32)
    idx = adanns.IVFIndex(d, nlist, metric=metric, seed=1)
    idx.train(x)
    idx.add(x)
    c = idx.centroids()
    sizes, ids, _ = idx._core.export_lists()
    assign = np.empty(len(x), np.int64)
    assign[ids] = np.repeat(np.arange(nlist), sizes)
    x64, c64 = x.astype(np.float64), c.astype(np.float64)
    if metric == "ip":
        dist = -(x64 @ c64.T)
    else:
        dist = ((x64[:, None, :] - c64[None, :, :]) ** 2).sum(-1)
    chosen = dist[np.arange(len(x)), assign]
    assert np.all(chosen <= dist.min(1) + 1e-4 * (1 + np.abs(dist.min(1))))
    assert (assign == dist.argmin(1)).mean() > 0.995
    # nprobe = 1 on a base vector itself: the probed list is the one it was added to, so the
    # vector finds itself (L2: distance 0) among its 10 neighbours.
    _, I = idx.search(x[:300], 10, nprobe=1)
    if metric == "l2":
        assert np.all(I[:, 0] == np.arange(300))
    else:
        assert all(i in row for i, row in enumerate(I))


def test_probing_is_independent_of_batch_and_threads(tmp_path):
    code = textwrap.dedent(
        """
        import numpy as np, adanns, sys
        rng = np.random.default_rng(0)
        x = rng.standard_normal((3000, 19)).astype(np.float32)
        idx = adanns.IVFIndex(19, 45, metric="l2", seed=2)
        idx.train(x)
        idx.add(x)
        q = rng.standard_normal((101, 19)).astype(np.float32)
        D, I = idx.search(q, 5, nprobe=3)
        parts = [idx.search(q[i:i + 7], 5, nprobe=3)[1] for i in range(0, 101, 7)]
        assert (np.concatenate(parts) == I).all()
        np.savez(sys.argv[1], D=D, I=I, C=idx.centroids())
        """
    )
    out = {}
    for threads in ("1", "2", "3"):
        env = dict(os.environ, OMP_NUM_THREADS=threads)
        path = tmp_path / f"t{threads}.npz"
        subprocess.run([sys.executable, "-c", code, str(path)], check=True, env=env, cwd=str(tmp_path))
        out[threads] = np.load(path)
    for t in ("2", "3"):
        for key in ("D", "I", "C"):
            np.testing.assert_array_equal(out["1"][key], out[t][key])
