"""IVFIndex(scan_store="int8"): the int8 scan copy, its kernels, its upkeep and its persistence."""

import numpy as np
import pytest

import adanns
from adanns import _core
from adanns.datasets import synthetic_matryoshka
from adanns import FormatError
from reference import assert_matches, brute_force, built_ivf, out_scores, run_script

METRICS = ["l2", "ip", "cosine"]
IMPLS = ["scalar", "avx2", "vnni"]


def _skip_unless(impl):
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("CPU without AVX2")
    if impl == "vnni" and not _core.cpu_has_avx512_vnni():
        pytest.skip("CPU without AVX-512 VNNI")


@pytest.fixture(scope="module")
def data():
    x = synthetic_matryoshka(3_000, 72, n_clusters=40, seed=5)
    return x[200:], x[:200].copy()


@pytest.mark.parametrize("impl", IMPLS)
@pytest.mark.parametrize("d,w", [(72, 72), (72, 40), (72, 8), (72, 5), (130, 130), (130, 77), (5, 5), (5, 3)])
def test_tile_kernels_match_the_dequantised_rows(impl, d, w):
    """Each kernel's value is q . (x_deq - lo) on the first w dims, up to the query's rounding:
    q16 for scalar / AVX2 (tight), the 8-bit query for VNNI (about 1% of the scale)."""
    _skip_unless(impl)
    rng = np.random.default_rng(d + w)
    X = rng.standard_normal((37, d)).astype(np.float32)
    Q = rng.standard_normal((7, d)).astype(np.float32)
    out, deq, lo = _core.scan_sq8_ip(X, Q, w, impl)
    ref = Q[:, :w].astype(np.float64) @ (deq[:, :w].astype(np.float64) - lo[:w]).T
    scale = np.abs(Q[:, :w]).sum(1, keepdims=True) * np.abs(deq[:, :w] - lo[:w]).max()
    tol = 2e-2 if impl == "vnni" else 2e-4
    assert np.all(np.abs(out - ref) <= tol * scale + 1e-4)


@pytest.mark.parametrize("impl", ["avx2", "vnni"])
def test_tile_kernels_do_not_depend_on_the_block(impl):
    """A (query, row) value is the same bits alone or in any block of queries and rows; the AVX2
    kernel equals the scalar one exactly (exact integer sums, the same wide-dims term)."""
    _skip_unless(impl)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((23, 100)).astype(np.float32)
    Q = rng.standard_normal((9, 100)).astype(np.float32)
    out, _, _ = _core.scan_sq8_ip(X, Q, 90, impl)
    for i in (0, 4, 8):
        one, _, _ = _core.scan_sq8_ip(X, Q[i : i + 1], 90, impl)
        np.testing.assert_array_equal(one[0], out[i])
    if impl == "avx2":
        ref, _, _ = _core.scan_sq8_ip(X, Q, 90, "scalar")
        np.testing.assert_allclose(out, ref, rtol=1e-6, atol=1e-5)


@pytest.mark.parametrize("metric", METRICS)
def test_every_list_and_rerank_of_everything_is_exact(data, metric):
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric, scan_store="int8")
    D, I = index.search(xq, 10, nprobe=16, scan_dim=40, rerank_k=xb.shape[0])
    Dr, Ir = brute_force(xb, xq, 10, metric)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 72))


@pytest.mark.parametrize("metric", METRICS)
def test_distances_are_exact_and_recall_close_to_the_float_scan(data, metric):
    """With rerank_k below k the int8 scan still re-scores its k results: every distance returned
    is the exact one of its id; the ranking recalls nearly what the float scan does."""
    xb, xq = data
    f = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric)
    q = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric, scan_store="int8")
    _, If = f.search(xq, 10, nprobe=4, scan_dim=40, rerank_k=40)
    D, I = q.search(xq, 10, nprobe=4, scan_dim=40)
    exact = out_scores(xb, xq, metric, 72)
    np.testing.assert_allclose(D, np.take_along_axis(exact, I, 1), rtol=0, atol=2e-4 * max(1.0, np.abs(D).max()))
    _, Ie = brute_force(xb, xq, 10, metric)
    _, Iq = q.search(xq, 10, nprobe=4, scan_dim=40, rerank_k=40)

    def recall(I_):
        return np.mean([len(set(a) & set(b)) / 10 for a, b in zip(I_, Ie)])

    assert recall(Iq) >= recall(If) - 0.02
    assert recall(Iq) >= 0.8


def test_scalar_and_simd_paths_give_the_same_results(tmp_path):
    code = """
        import numpy as np, adanns, sys
        from adanns.datasets import synthetic_matryoshka
        x = synthetic_matryoshka(3000, 70, seed=2)
        out = []
        for metric in ("l2", "ip", "cosine"):
            index = adanns.IVFIndex(70, 12, coarse_dim=20, metric=metric, scan_store="int8")
            index.train(x); index.add(x)
            out.append(index.search(x[:50], 5, nprobe=12, scan_dim=30, rerank_k=x.shape[0])[1])
        np.save(sys.argv[1], np.stack(out))
    """
    for simd in ("scalar", "avx2", ""):
        r = run_script(tmp_path, code, tmp_path / f"{simd or 'best'}.npy", env={"ADANNS_SIMD": simd})
        assert r.returncode == 0, r.stderr
    a = np.load(tmp_path / "scalar.npy")
    for other in ("avx2.npy", "best.npy"):
        np.testing.assert_array_equal(a, np.load(tmp_path / other))


def test_codes_follow_adds_removals_and_updates(data):
    xb, xq = data
    index = built_ivf(xb[:1000], 72, 8, coarse_dim=24, metric="cosine", scan_store="int8")
    s = dict(nprobe=8, scan_dim=32, rerank_k=50)
    _, I = index.search(xq[:20], 1, **s)
    index.add(xq[:20], ids=np.arange(10_000, 10_020))  # each query is now stored: its best match (cosine 1)
    D, I = index.search(xq[:20], 1, **s)
    np.testing.assert_array_equal(I[:, 0], np.arange(10_000, 10_020))
    index.remove_ids(np.arange(10_000, 10_010))
    _, I = index.search(xq[:20], 1, **s)
    assert not np.isin(I, np.arange(10_000, 10_010)).any()
    np.testing.assert_array_equal(I[10:, 0], np.arange(10_010, 10_020))
    index.update(-xq[10:20], ids=np.arange(10_010, 10_020))  # moved away: no longer the best
    _, I = index.search(xq[10:20], 1, **s)
    assert not np.isin(I, np.arange(10_010, 10_020)).any()
    index.reset()
    index.add(xb[:100])
    _, I = index.search(xb[:5], 1, **s)
    np.testing.assert_array_equal(I[:, 0], np.arange(5))


@pytest.mark.parametrize("mmap", [False, True])
def test_save_load_keeps_the_setting_not_the_codes(tmp_path, data, mmap):
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric="cosine", scan_store="int8")
    s = dict(nprobe=4, scan_dim=24, rerank_k=30)
    D, I = index.search(xq, 10, **s)
    path = tmp_path / "i8.adanns"
    index.save(path)
    other = adanns.load(path, mmap=mmap)
    assert other.scan_store == "int8" and "scan_store='int8'" in repr(other)
    D2, I2 = other.search(xq, 10, **s)
    np.testing.assert_array_equal(I, I2)
    np.testing.assert_allclose(D, D2, rtol=0, atol=1e-6)
    # a float32 index writes no field (its files are unchanged); the field is checked on load
    plain = built_ivf(xb[:500], 72, 4, metric="ip")
    plain.save(tmp_path / "f.adanns")
    assert adanns.load(tmp_path / "f.adanns").scan_store == "float32"
    assert "scan_store" not in plain._header()


def test_invalid_settings_and_files(tmp_path, data):
    xb, _ = data
    with pytest.raises(ValueError, match="scan_store"):
        adanns.IVFIndex(72, 4, scan_store="int4")
    index = built_ivf(xb[:500], 72, 4, metric="ip", scan_store="int8")
    with pytest.raises(ValueError):
        index.search(xb[:3], 5, nprobe=4, rerank_dim=0)
    header, sections = index._to_sections()
    header["scan_store"] = "fp16"
    from adanns._format import write_index_file

    write_index_file(tmp_path / "bad.adanns", header, sections)
    with pytest.raises(FormatError, match="scan_store"):
        adanns.load(tmp_path / "bad.adanns")


def test_tuning_ground_truth_is_exact_with_an_int8_scan(data):
    """The tuner's reference search reads the float rows, whatever the scan store."""
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric="ip", scan_store="int8")
    _, Ie = brute_force(xb, xq, 10, "ip")
    np.testing.assert_array_equal(np.sort(index._exact_ground_truth(xq, 10), 1), np.sort(Ie, 1))


def test_concurrent_first_searches_build_the_codes_once(data):
    """Threads that search an index whose codes are stale at once: one builds, all get the same
    answers as a later single-threaded search (the core releases the GIL)."""
    import threading

    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric="ip", scan_store="int8")
    s = dict(nprobe=6, scan_dim=24, rerank_k=20)
    got, errors = [None] * 6, []

    def work(t):
        try:
            got[t] = index.search(xq, 10, **s)[1]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(t,)) for t in range(6)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert not errors
    expected = index.search(xq, 10, **s)[1]
    for g in got:
        np.testing.assert_array_equal(g, expected)
