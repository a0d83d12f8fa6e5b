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
@pytest.mark.parametrize("d,w", [(72, 72), (72, 40), (72, 8), (72, 5), (130, 130), (130, 77), (5, 5), (5, 3), (11, 10)])
@pytest.mark.parametrize("n", [37, 16, 5])
def test_tile_kernels_match_the_codes(impl, d, w, n):
    """Each kernel's value is sum_t q_t step_t c_t over the first w dims of a row's codes (the
    blocks of 16 rows unpacked by the hook), up to the 8-bit rounding of the 8-bit dims'
    weights (at most half a step of 127 per weight); every row of a partial block is right."""
    _skip_unless(impl)
    rng = np.random.default_rng(d + w + n)
    X = rng.standard_normal((n, d)).astype(np.float32)
    Q = rng.standard_normal((7, d)).astype(np.float32)
    out, codes, step = _core.sq8_tile(X, Q, w, impl)
    assert out.shape == (7, n) and codes.shape == (n, d)
    assert codes.max() <= 65535 and np.all(codes[:, min(8, d):] <= 255)
    qw = Q[:, :w].astype(np.float64) * step[:w]
    ref = qw @ codes[:, :w].T.astype(np.float64)
    h = min(8, d, w)
    amax = np.abs(qw[:, h:]).max(1, keepdims=True) if w > h else np.zeros((7, 1))
    bound = 0.5 * amax / 127 * codes[:, h:w].sum(1)[None, :] + 1e-4 * np.abs(qw) @ codes[:, :w].T.astype(np.float64)
    assert np.all(np.abs(out - ref) <= bound + 1e-5)


@pytest.mark.parametrize("impl", ["avx2", "vnni"])
def test_tile_kernels_give_the_scalar_bits_in_any_block(impl):
    """The SIMD kernels equal the scalar one bit for bit (exact integer sums, the float epilogue
    in one order), and a (query, row) value is the same alone or in any block of queries."""
    _skip_unless(impl)
    rng = np.random.default_rng(1)
    X = rng.standard_normal((53, 100)).astype(np.float32)
    Q = rng.standard_normal((19, 100)).astype(np.float32)
    for w in (90, 100, 9, 3):
        out, _, _ = _core.sq8_tile(X, Q, w, impl)
        np.testing.assert_array_equal(out, _core.sq8_tile(X, Q, w, "scalar")[0])
        for i in (0, 4, 8, 18):
            np.testing.assert_array_equal(_core.sq8_tile(X, Q[i : i + 1], w, impl)[0][0], out[i])


@pytest.mark.parametrize("impl", ["scalar", "avx2"])
@pytest.mark.parametrize("d,w", [(72, 72), (72, 41), (72, 8), (72, 3), (130, 77), (5, 5)])
def test_norm_kernels_match_the_codes(impl, d, w):
    """The L2 row term: sum over the first w dims of step^2 c^2, for every row of the blocks."""
    _skip_unless(impl)
    X = np.random.default_rng(d * w).standard_normal((29, d)).astype(np.float32)
    out, codes, step = _core.sq8_norms(X, w, impl)
    ref = (codes[:, :w].astype(np.float64) ** 2 * step[:w].astype(np.float64) ** 2).sum(1)
    np.testing.assert_allclose(out, ref, rtol=1e-5)


def test_kernel_hooks_reject_bad_arguments():
    X = np.zeros((4, 10), np.float32)
    with pytest.raises(ValueError):
        _core.sq8_tile(X, np.zeros((2, 9), np.float32), 5, "scalar")
    with pytest.raises(ValueError):
        _core.sq8_tile(X, X, 11, "scalar")
    with pytest.raises(ValueError):
        _core.sq8_norms(X, 0, "scalar")
    with pytest.raises(ValueError):
        _core.sq8_norms(X, 5, "vnni")


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("scan_dim", [40, 8, 3])
def test_every_list_and_rerank_of_everything_is_exact(data, metric, scan_dim):
    """(scan_dim <= 8: only 16-bit dims, no 8-bit query.)"""
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric, scan_store="int8")
    D, I = index.search(xq, 10, nprobe=16, scan_dim=scan_dim, rerank_k=xb.shape[0])
    Dr, Ir = brute_force(xb, xq, 10, metric)
    assert_matches(D, I, Dr, Ir, out_scores(xb, xq, metric, 72))


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("sel", [0.3, 0.01])
def test_filtered_search_scores_only_allowed_rows_exactly(data, metric, sel):
    """A filter makes the scan score spans of whole 32-row blocks of a tile (block-aligned in the
    int8 copy): with every list probed and everything reranked, the result is the exact top-k of
    the allowed rows."""
    xb, xq = data
    index = built_ivf(xb, 72, 16, coarse_dim=24, metric=metric, scan_store="int8")
    rows = np.sort(np.random.default_rng(int(sel * 100)).choice(xb.shape[0], int(sel * xb.shape[0]), replace=False))
    D, I = index.search(xq, 10, nprobe=16, scan_dim=33, rerank_k=xb.shape[0], filter=rows)
    Dr, Ir = brute_force(xb[rows], xq, 10, metric)
    assert_matches(D, I, Dr, rows[Ir], out_scores(xb, xq, metric, 72))


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
