"""AdANNS-(O)PQ / IVF-(O)PQ: ADC exactness against numpy, exact mode against brute force,
recall floors, OPQ, persistence (RAM and mmap), corruption, bad input."""


import numpy as np
import pytest

import adanns
from adanns import FormatError, _core
from adanns.datasets import make_synthetic, synthetic_matryoshka
from adanns.evaluation import ground_truth, recall_at_k

FAST = dict(pq_niter=8, opq_niter=3)


@pytest.fixture(scope="module")
def data():
    ds = make_synthetic(6_000, 60, 48, seed=3)
    return ds.xb, ds.xq


def build(cls, xb, **kw):
    idx = cls(xb.shape[1], **{**FAST, **kw})
    idx.train(xb)
    idx.add(xb)
    return idx


def numpy_adc(idx, xq):
    """Reference ADC distances (per query, per stored row in list order) from the stored codes."""
    sizes, ids, rows, codes = idx._core.export_lists()
    lists = np.repeat(np.arange(len(sizes)), sizes)
    cb = idx.codebooks().astype(np.float64)
    m, _, dsub = cb.shape
    rec = np.concatenate([cb[s][codes[:, s]] for s in range(m)], axis=1)  # rotated residual
    R = idx.rotation()
    if R is not None:
        rec = rec @ R.astype(np.float64)  # R^T r in row form
    rec += idx.anchors().astype(np.float64)[lists]
    q = xq.astype(np.float64)
    if idx.metric == "cosine":
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    qt = q[:, : idx.pq_dim]
    if idx.metric == "cosine" and idx.pq_dim < idx.dim:
        qt = qt / np.linalg.norm(qt, axis=1, keepdims=True)
    if idx.metric == "l2":
        d = ((qt[:, None, :] - rec[None, :, :]) ** 2).sum(-1)
    else:
        d = qt @ rec.T
    return d, ids


@pytest.mark.parametrize("impl", ["scalar", "avx2"])
def test_adc_kernel_matches_numpy(impl):
    if impl == "avx2" and not _core.cpu_has_avx2():
        pytest.skip("no AVX2")
    rng = np.random.default_rng(0)
    for m, n in [(1, 1), (3, 31), (8, 32), (16, 100), (32, 257)]:
        lut = rng.standard_normal((m, 256)).astype(np.float32)
        codes = rng.integers(0, 256, (n, m)).astype(np.uint8)
        out = _core.adc(lut, codes, impl)
        ref = np.zeros(n, np.float32)
        for s in range(m):  # the kernels sum in sub-space order, in float32
            ref += lut[s][codes[:, s]]
        np.testing.assert_array_equal(out, ref)


@pytest.mark.parametrize(
    "cls,kw,metric",
    [
        (adanns.PQIndex, dict(pq_dim=48, m=8), "l2"),
        (adanns.PQIndex, dict(pq_dim=24, m=6, opq=True), "cosine"),
        (adanns.IVFPQIndex, dict(nlist=16, coarse_dim=8, pq_dim=32, m=8, opq=True), "l2"),
        (adanns.IVFPQIndex, dict(nlist=16, coarse_dim=40, pq_dim=24, m=4), "ip"),
        (adanns.IVFPQIndex, dict(nlist=16, coarse_dim=12, pq_dim=36, m=12, opq=True), "cosine"),
    ],
)
def test_adc_distances_equal_numpy_reference(data, cls, kw, metric):
    xb, xq = data
    xb = xb[:2_000]
    idx = build(cls, xb, metric=metric, **kw)
    q = xq[:5]
    k = idx.ntotal
    extra = dict(nprobe=idx.nlist) if cls is adanns.IVFPQIndex else {}
    D, I = idx.search(q, k, **extra)
    ref, ids = numpy_adc(idx, q)
    order = np.argsort(ids)
    for i in range(len(q)):
        assert sorted(I[i]) == sorted(ids)
        got = D[i][np.argsort(I[i])]
        np.testing.assert_allclose(got, ref[i][order], rtol=1e-4, atol=1e-4 * np.abs(ref).max())


def test_encode_decode_round_trip(data):
    xb, _ = data
    idx = build(adanns.IVFPQIndex, xb[:3_000], nlist=8, coarse_dim=16, pq_dim=32, m=8, opq=True)
    lists = idx._core.assign(xb[:500])
    codes = idx._core.encode(xb[:500], lists)
    rec = idx._core.decode(codes, lists)
    # Re-encoding a reconstruction gives back the same codes (codewords are their own nearest).
    padded = np.concatenate([rec, np.zeros((500, 48 - 32), np.float32)], axis=1)
    np.testing.assert_array_equal(idx._core.encode(padded, lists), codes)
    err = ((rec - xb[:500, :32]) ** 2).sum(1).mean()
    assert err < 0.25 * (xb[:500, :32] ** 2).sum(1).mean()
    cb = _core.pq_train(np.ascontiguousarray(xb[:, :16]), 4, 5, 1, 256)
    c = _core.pq_encode(np.ascontiguousarray(xb[:100, :16]), cb)
    np.testing.assert_array_equal(_core.pq_encode(_core.pq_decode(c, cb), cb), c)


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
@pytest.mark.parametrize("cls", [adanns.PQIndex, adanns.IVFPQIndex])
def test_full_rerank_equals_brute_force(data, metric, cls):
    xb, xq = data
    xb = xb[:2_000]
    kw = dict(nlist=12, coarse_dim=16) if cls is adanns.IVFPQIndex else {}
    idx = build(cls, xb, pq_dim=24, m=4, metric=metric, **kw)
    extra = dict(nprobe=12) if kw else {}
    D, I = idx.search(xq[:50], 10, rerank_k=idx.ntotal, **extra)
    flat = adanns.FlatIndex(48, metric)
    flat.add(xb)
    Df, If = flat.search(xq[:50], 10)
    np.testing.assert_array_equal(I, If)
    np.testing.assert_allclose(D, Df, rtol=1e-5, atol=1e-5)


def test_recall_floors():
    ds = make_synthetic(20_000, 200, 64, seed=1)
    xb, xq = ds.xb, ds.xq
    gt = ground_truth(xb, xq, 10, "l2")
    idx = build(adanns.IVFPQIndex, xb, nlist=64, coarse_dim=16, pq_dim=32, m=8)
    _, I = idx.search(xq, 10, nprobe=8)
    assert recall_at_k(I, gt, 10) > 0.55
    _, I = idx.search(xq, 10, nprobe=16, rerank_k=100)
    assert recall_at_k(I, gt, 10) > 0.95
    gtc = ground_truth(xb, xq, 10, "cosine")
    pq = build(adanns.PQIndex, xb, pq_dim=32, m=8, metric="cosine")
    _, I = pq.search(xq, 10, rerank_k=100)
    assert recall_at_k(I, gtc, 10) > 0.97
    full = build(adanns.PQIndex, xb, pq_dim=64, m=8, metric="cosine")
    _, Ip = pq.search(xq, 10)
    _, If = full.search(xq, 10)
    # The Matryoshka point: the same 8 bytes spent on a prefix beat spreading them over all dims.
    assert recall_at_k(Ip, gtc, 10) > recall_at_k(If, gtc, 10)


def test_opq_rotation_orthogonal_and_useful():
    rng = np.random.default_rng(5)
    d = 32
    scales = np.exp(-0.25 * np.arange(d))
    x = (rng.standard_normal((5_000, d)) * scales).astype(np.float32)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    x = np.ascontiguousarray(x @ q.T.astype(np.float32))  # rotated anisotropic Gaussian
    errs = {}
    for opq in (False, True):
        idx = adanns.PQIndex(d, m=4, opq=opq, pq_niter=8, opq_niter=5, keep_full=None)
        idx.train(x)
        lists = np.zeros(2_000, np.int64)
        rec = idx._core.decode(idx._core.encode(x[:2_000], lists), lists)
        errs[opq] = ((rec - x[:2_000]) ** 2).sum(1).mean()
        if opq:
            R = idx.rotation().astype(np.float64)
            np.testing.assert_allclose(R @ R.T, np.eye(d), atol=1e-5)
            assert np.abs(R - np.eye(d)).max() > 0.1
        else:
            assert idx.rotation() is None
    assert errs[True] < 0.8 * errs[False], errs


@pytest.mark.parametrize("keep_full", ["ram", "mmap", None])
def test_save_load_round_trip(data, tmp_path, keep_full):
    xb, xq = data
    idx = build(adanns.IVFPQIndex, xb[:3_000], nlist=16, coarse_dim=12, pq_dim=24, m=8, opq=True,
                metric="cosine", keep_full=keep_full)
    idx.add(xb[3_000:3_500], ids=np.arange(500) + 10_000)
    path = tmp_path / "a.adanns"
    idx.save(path)
    loaded = adanns.load(path)
    assert isinstance(loaded, adanns.IVFPQIndex)
    assert (loaded.nlist, loaded.coarse_dim, loaded.pq_dim, loaded.m, loaded.metric, loaded.ntotal, loaded.keep_full) == \
        (16, 12, 24, 8, "cosine", 3_500, keep_full)
    assert loaded.full_is_mmapped == (keep_full == "mmap")
    rk = 0 if keep_full is None else 40
    for a, b in zip(idx.search(xq, 10, nprobe=4, rerank_k=rk), loaded.search(xq, 10, nprobe=4, rerank_k=rk)):
        np.testing.assert_array_equal(a, b)
    # Adds after a load (the new full vectors live in RAM beside the mapped ones), then save over.
    loaded.add(xb[3_500:4_000])
    idx.add(xb[3_500:4_000])
    for a, b in zip(idx.search(xq, 10, nprobe=16, rerank_k=rk), loaded.search(xq, 10, nprobe=16, rerank_k=rk)):
        np.testing.assert_array_equal(a, b)
    loaded.save(path)  # replaces the file it maps: the mapping keeps the old inode
    again = adanns.load(path)
    for a, b in zip(idx.search(xq, 10, nprobe=16, rerank_k=rk), again.search(xq, 10, nprobe=16, rerank_k=rk)):
        np.testing.assert_array_equal(a, b)
    pq = build(adanns.PQIndex, xb[:1_000], pq_dim=16, m=4, keep_full=keep_full)
    pq.save(tmp_path / "b.adanns")
    pl = adanns.load(tmp_path / "b.adanns")
    assert isinstance(pl, adanns.PQIndex) and pl.rotation() is None
    for a, b in zip(pq.search(xq, 5, rerank_k=rk), pl.search(xq, 5, rerank_k=rk)):
        np.testing.assert_array_equal(a, b)


def test_corrupted_files_raise_format_error(data, tmp_path):
    xb, _ = data
    idx = build(adanns.IVFPQIndex, xb[:800], nlist=4, coarse_dim=8, pq_dim=16, m=4, opq=True, keep_full="mmap")
    path = tmp_path / "c.adanns"
    idx.save(path)
    raw = path.read_bytes()
    bad = tmp_path / "bad.adanns"
    for cut in list(range(0, len(raw), max(1, len(raw) // 97))) + [len(raw) - 1]:
        bad.write_bytes(raw[:cut])
        with pytest.raises(FormatError):
            adanns.load(bad)
    rng = np.random.default_rng(0)
    for pos in rng.choice(len(raw), 150, replace=False):
        b = bytearray(raw)
        b[pos] ^= 1 << int(rng.integers(8))
        bad.write_bytes(bytes(b))
        try:
            loaded = adanns.load(bad)
        except FormatError:
            continue
        # Only bytes no section covers (alignment padding) may change without detection.
        assert loaded.ntotal == idx.ntotal


def test_structural_defects_without_crc(data, tmp_path):
    """Values behind the checksums are validated too (the fuzzer's no-CRC mode)."""
    import json

    from adanns.io import _PREFIX, load_index

    xb, _ = data
    idx = build(adanns.IVFPQIndex, xb[:800], nlist=4, coarse_dim=8, pq_dim=16, m=4, keep_full="ram")
    path = tmp_path / "d.adanns"
    idx.save(path)
    raw = path.read_bytes()
    _, _, hlen, _, _ = _PREFIX.unpack_from(raw, 0)
    header = json.loads(raw[_PREFIX.size:_PREFIX.size + hlen])
    sec = {e["name"]: e for e in header["sections"]}

    def mutate(name, fn):
        b = bytearray(raw)
        e = sec[name]
        arr = np.frombuffer(bytes(b[e["offset"]:e["offset"] + e["nbytes"]]), dtype=e["dtype"]).copy()
        fn(arr)
        b[e["offset"]:e["offset"] + e["nbytes"]] = arr.tobytes()
        return bytes(b)

    cases = [
        mutate("rows", lambda a: a.__setitem__(0, a[1])),           # not a permutation
        mutate("list_sizes", lambda a: a.__setitem__(0, a[0] + 1)),  # sizes do not add up
        mutate("ids", lambda a: a.__setitem__(0, -5)),
        mutate("full", lambda a: a.__setitem__(3, np.nan)),
        mutate("anchors", lambda a: a.__setitem__(0, np.inf)),
    ]
    for blob in cases:
        p = tmp_path / "m.adanns"
        p.write_bytes(blob)
        with pytest.raises(FormatError):
            load_index(p, _check_crc=False)


def test_bad_inputs(data):
    xb, xq = data
    with pytest.raises(ValueError, match="multiple of m"):
        adanns.PQIndex(48, pq_dim=30, m=8)
    with pytest.raises(ValueError):
        adanns.PQIndex(48, pq_dim=64, m=8)
    with pytest.raises(ValueError):
        adanns.PQIndex(48, pq_dim=16, m=17)
    with pytest.raises(ValueError):
        adanns.PQIndex(48, m=0)
    with pytest.raises(TypeError):
        adanns.PQIndex(48, m=8.0)
    with pytest.raises(ValueError):
        adanns.PQIndex(48, m=8, keep_full="disk")
    with pytest.raises(TypeError):
        adanns.PQIndex(48, m=8, opq="yes")
    with pytest.raises(ValueError):
        adanns.PQIndex(48, m=8, metric="hamming")
    with pytest.raises(ValueError):
        adanns.IVFPQIndex(48, nlist=4, coarse_dim=49)
    idx = adanns.IVFPQIndex(48, nlist=8, coarse_dim=8, pq_dim=16, m=4, keep_full=None, **FAST)
    with pytest.raises(RuntimeError):
        idx.add(xb[:10])
    with pytest.raises(RuntimeError):
        idx.search(xq, 1)
    with pytest.raises(ValueError, match="at least 256"):
        idx.train(xb[:100])
    with pytest.raises(TypeError):
        idx.train(xb.astype(np.int32))
    idx.train(xb[:1_000])
    idx.add(xb[:1_000])
    with pytest.raises(ValueError, match="keep_full=None"):
        idx.search(xq, 5, nprobe=2, rerank_k=10)
    with pytest.raises(ValueError):
        idx.search(xq, 5, nprobe=9)
    with pytest.raises(ValueError):
        idx.search(xq, 0)
    with pytest.raises(ValueError):
        idx.search(xq, 1_001)
    with pytest.raises(ValueError):
        idx.search(xq[:, :40], 5)
    bad = xq[:3].copy()
    bad[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        idx.search(bad, 5)
    with pytest.raises(RuntimeError):
        idx.train(xb[:1_000])
    idx.reset()
    assert idx.ntotal == 0
    idx.add(xb[:300])
    D, I = idx.search(xq[:2], 3, nprobe=8)
    assert I.shape == (2, 3) and (I >= 0).all()
    assert idx.memory_per_vector()["total"] == 4 + 8 + 4


def test_memory_and_repr(data):
    xb, _ = data
    idx = build(adanns.IVFPQIndex, xb[:1_000], nlist=4, coarse_dim=8, pq_dim=16, m=8)
    mem = idx.memory_per_vector()
    assert mem["codes"] == 8 and mem["full"] == 4 * 48 and mem["total"] == 8 + 8 + 4 + 4 * 48
    assert "IVFPQIndex" in repr(idx)


def _rss_anon():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
    pytest.skip("no RssAnon in /proc/self/status")


def test_keep_full_mmap_writes_the_full_vectors_to_a_file_at_add(tmp_path):
    """keep_full="mmap" before any save: the full vectors go to an unlinked file in mmap_dir
    (mapped), not to anonymous memory; results equal keep_full="ram"."""
    x = synthetic_matryoshka(30_000, 512, n_clusters=20, seed=5)
    xb, xq = x[:-50], x[-50:]
    full_bytes = xb.nbytes
    grown = {}
    built = {}
    for keep in ("mmap", "ram"):
        kw = dict(mmap_dir=tmp_path) if keep == "mmap" else {}
        idx = adanns.IVFPQIndex(512, 8, coarse_dim=16, pq_dim=16, m=8, keep_full=keep, max_train=2_000, **FAST, **kw)
        idx.train(xb[:2_000])
        before = _rss_anon()
        idx.add(xb)
        grown[keep] = _rss_anon() - before
        built[keep] = idx
    assert built["mmap"].full_is_mmapped and not built["ram"].full_is_mmapped
    with open("/proc/self/maps") as f:
        maps = [line for line in f if "adanns-rows-" in line]
    assert any(str(tmp_path) in line for line in maps), maps
    assert grown["ram"] > 0.8 * full_bytes, grown          # the measurement sees a RAM copy
    assert grown["mmap"] < 0.25 * full_bytes, grown        # ... and none here
    for a, b in zip(built["ram"].search(xq, 10, nprobe=8, rerank_k=50), built["mmap"].search(xq, 10, nprobe=8, rerank_k=50)):
        np.testing.assert_array_equal(a, b)
    # updates, removals and a save / load keep the results equal
    for idx in built.values():
        idx.update(xq[:5], ids=[1, 2, 3, 4, 5])
        idx.remove_ids([7, 8])
    for a, b in zip(built["ram"].search(xq, 10, nprobe=8, rerank_k=50), built["mmap"].search(xq, 10, nprobe=8, rerank_k=50)):
        np.testing.assert_array_equal(a, b)
    built["mmap"].save(tmp_path / "m.adanns")
    loaded = adanns.load(tmp_path / "m.adanns")
    assert loaded.full_is_mmapped
    loaded.add(xq, ids=np.arange(10**6, 10**6 + 50))
    built["ram"].add(xq, ids=np.arange(10**6, 10**6 + 50))
    for a, b in zip(built["ram"].search(xq, 10, nprobe=8, rerank_k=50), loaded.search(xq, 10, nprobe=8, rerank_k=50)):
        np.testing.assert_array_equal(a, b)
    built["mmap"].reset()
    assert built["mmap"].ntotal == 0 and not built["mmap"].full_is_mmapped


def test_mmap_dir_is_checked(tmp_path):
    with pytest.raises(ValueError, match="not a directory"):
        adanns.PQIndex(16, m=4, keep_full="mmap", mmap_dir=tmp_path / "missing")
    with pytest.raises(ValueError, match="keep_full='mmap'"):
        adanns.PQIndex(16, m=4, keep_full="ram", mmap_dir=tmp_path)
