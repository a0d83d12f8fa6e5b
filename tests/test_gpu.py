"""The CUDA backend (adanns.gpu) against the CPU index and exact numpy brute force.

Tests that need a GPU are skipped when none is visible (or the build has no CUDA backend);
the error paths for those cases run everywhere.
"""

import numpy as np
import pytest

import adanns
import adanns.gpu as agpu
from adanns.datasets import synthetic_matryoshka
from reference import assert_matches, brute_force, out_scores, two_stage

METRICS = ["l2", "ip", "cosine"]
needs_gpu = pytest.mark.skipif(not agpu.is_available(), reason="no CUDA GPU (or a build without the CUDA backend)")


@pytest.fixture(scope="module")
def data():
    x = synthetic_matryoshka(3_000, 72, n_clusters=40, seed=3)
    return x[200:], x[:200].copy()


def ivf(xb, metric, nlist=16, coarse_dim=24, ids=None):
    index = adanns.IVFIndex(xb.shape[1], nlist, coarse_dim=coarse_dim, metric=metric)
    index.train(xb)
    index.add(xb, ids)
    return index


# ----------------------------------------------------------------- without a GPU


def test_to_gpu_without_backend_or_gpu_is_a_clear_error(data):
    if agpu.is_available():
        pytest.skip("a GPU is available")
    index = ivf(data[0], "l2")
    with pytest.raises(agpu.GpuUnavailableError) as e:
        agpu.to_gpu(index)
    expected = "no CUDA GPU" if agpu.cuda_built() else "no CUDA backend"
    assert expected in str(e.value)
    assert agpu.device_count() == 0


def test_to_gpu_rejects_other_indices():
    with pytest.raises(TypeError):
        agpu.to_gpu(adanns.PQIndex(8, m=2))
    with pytest.raises(TypeError):
        agpu.to_gpu(np.zeros((4, 4), np.float32))


def test_to_gpu_argument_checks(data):
    index = ivf(data[0], "l2")
    with pytest.raises(ValueError):
        agpu.to_gpu(index, device=-1)
    with pytest.raises(ValueError):
        agpu.to_gpu(index, memory_limit=0)
    with pytest.raises(TypeError):
        agpu.to_gpu(index, device=1.5)


# ----------------------------------------------------------------- exact settings


@needs_gpu
@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("scan_dim", [72, 40, 7])
def test_full_probe_equals_brute_force_and_cpu(data, metric, scan_dim):
    xb, xq = data
    index = ivf(xb, metric)
    g = agpu.to_gpu(index)
    D, I = g.search(xq, 10, nprobe=16, scan_dim=scan_dim)
    Dr, Ir = brute_force(xb, xq, 10, metric, scan_dim)
    scores = out_scores(xb, xq, metric, scan_dim)
    assert_matches(D, I, Dr, Ir, scores)
    Dc, Ic = index.search(xq, 10, nprobe=16, scan_dim=scan_dim)
    assert_matches(D, I, Dc, Ic, scores)
    assert (I == Ic).mean() > 0.99  # equal ids up to near-ties in float rounding


@needs_gpu
@pytest.mark.parametrize("metric", METRICS)
def test_partial_probe_equals_cpu(data, metric):
    xb, xq = data
    index = ivf(xb, metric, nlist=32)
    g = agpu.to_gpu(index)
    for nprobe, probe_dim in [(1, None), (4, None), (7, 9)]:
        D, I = g.search(xq, 10, nprobe=nprobe, scan_dim=32, probe_dim=probe_dim)
        Dc, Ic = index.search(xq, 10, nprobe=nprobe, scan_dim=32, probe_dim=probe_dim)
        assert (I == Ic).mean() > 0.98
        valid = Ic >= 0
        assert ((I >= 0) == valid).mean() > 0.98
        same = valid & (I == Ic)
        np.testing.assert_allclose(D[same], Dc[same], rtol=0, atol=2e-4 * max(1.0, float(np.abs(Dc[valid]).max())))


@needs_gpu
@pytest.mark.parametrize("metric", METRICS)
def test_rerank_equals_two_stage(data, metric):
    xb, xq = data
    g = agpu.to_gpu(ivf(xb, metric, coarse_dim=16))
    D, I = g.search(xq, 10, nprobe=16, scan_dim=12, rerank_k=50)
    Dr, Ir = two_stage(xb, xq, 10, metric, 12, 50, 72)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 72))


@needs_gpu
@pytest.mark.parametrize("metric", METRICS)
def test_rerank_over_everything_is_exact(data, metric):
    xb, xq = data
    xb = xb[:1000]  # rerank_k = ntotal stays within the GPU's k limit
    g = agpu.to_gpu(ivf(xb, metric, nlist=8, coarse_dim=8))
    D, I = g.search(xq, 5, nprobe=8, scan_dim=3, rerank_k=1000, rerank_dim=50)
    Dr, Ir = brute_force(xb, xq, 5, metric, 50)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 50))


@needs_gpu
@pytest.mark.parametrize("metric", METRICS)
def test_flat_index_and_odd_dim(metric):
    x = synthetic_matryoshka(1_500, 37, n_clusters=10, seed=5)
    xb, xq = x[100:], x[:100]
    flat = adanns.FlatIndex(37, metric)
    flat.add(xb)
    g = agpu.to_gpu(flat)
    for scan_dim in (37, 13, 1):
        D, I = g.search(xq, 7, scan_dim=scan_dim)
        Dr, Ir = brute_force(xb, xq, 7, metric, scan_dim)
        assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, scan_dim))


@needs_gpu
def test_largest_k_and_custom_ids(data):
    xb, xq = data
    ids = np.arange(len(xb), dtype=np.int64) * 7 + 3
    g = agpu.to_gpu(ivf(xb, "l2", ids=ids))
    D, I = g.search(xq[:20], 1024, nprobe=16)
    Dr, Ir = brute_force(xb, xq[:20], 1024, "l2")
    assert_matches(D, (I - 3) // 7, Dr, Ir, out_scores(xb, xq[:20], "l2", 72))
    assert ((I - 3) % 7 == 0).all()


@needs_gpu
def test_missing_results_are_padded_like_cpu(data):
    xb, xq = data
    index = ivf(xb[:300], "ip", nlist=64, coarse_dim=8)
    g = agpu.to_gpu(index)
    D, I = g.search(xq, 50, nprobe=1)
    Dc, Ic = index.search(xq, 50, nprobe=1)
    assert ((I < 0) == (Ic < 0)).all(axis=1).mean() > 0.97  # rows whose probe agrees
    assert (I < 0).any()
    assert np.isneginf(D[I < 0]).all()


@needs_gpu
def test_to_cpu_round_trip(data):
    xb, xq = data
    index = ivf(xb, "cosine")
    back = agpu.to_gpu(index).to_cpu()
    assert type(back) is adanns.IVFIndex and back.nlist == index.nlist and back.coarse_dim == index.coarse_dim
    np.testing.assert_array_equal(back.centroids(), index.centroids())
    for a, b in zip(back._core.export_lists(), index._core.export_lists()):
        np.testing.assert_array_equal(a, b)
    D1, I1 = back.search(xq, 10, nprobe=4, scan_dim=24)
    D2, I2 = index.search(xq, 10, nprobe=4, scan_dim=24)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)


# ----------------------------------------------------------------- bad input and memory


@needs_gpu
def test_bad_input(data):
    xb, xq = data
    g = agpu.to_gpu(ivf(xb, "l2"))
    bad = xq.copy()
    bad[3, 5] = np.nan
    with pytest.raises(ValueError):
        g.search(bad, 10)
    with pytest.raises(ValueError):
        g.search(xq[:, :10], 10)
    with pytest.raises(TypeError):
        g.search(xq.astype(np.int32), 10)
    for k, settings in [(1025, {}), (10, {"rerank_k": 2000}), (10, {"nprobe": 17}), (10, {"scan_dim": 0}),
                        (10, {"probe_dim": 25})]:
        with pytest.raises(ValueError):
            g.search(xq, k, **settings)
    D, I = g.search(xq[:0], 10)
    assert D.shape == (0, 10) and I.shape == (0, 10)


@needs_gpu
def test_memory_limit(data):
    xb, xq = data
    index = ivf(xb, "l2")
    with pytest.raises(MemoryError):
        agpu.to_gpu(index, memory_limit=1 << 16)  # smaller than the index
    full = agpu.to_gpu(index)
    need = full.index_bytes
    # room for the index and the probe operands only: no query fits
    tight = agpu.to_gpu(index, memory_limit=need + 16 * 24 * 4 + 100)
    assert tight.batch_size(10, nprobe=4) == 0
    with pytest.raises(MemoryError):
        tight.search(xq, 10, nprobe=4)
    # room for a few queries: many batches, the same results
    small = agpu.to_gpu(index, memory_limit=need + 16 * 24 * 4 + 3 * 2_000)
    assert 1 <= small.batch_size(10, nprobe=4) < len(xq)
    D1, I1 = small.search(xq, 10, nprobe=4, scan_dim=30)
    D2, I2 = full.search(xq, 10, nprobe=4, scan_dim=30)
    np.testing.assert_array_equal(I1, I2)
    np.testing.assert_array_equal(D1, D2)


def test_gpu_benchmark_without_gpu_says_why(capsys):
    if agpu.is_available():
        pytest.skip("a GPU is available")
    from adanns.cli import main

    assert main(["bench", "--gpu", "--quick"]) == 2
    assert "no CUDA build of adanns or no visible GPU" in capsys.readouterr().out
