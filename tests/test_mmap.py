"""adanns.load(path, mmap=True) for IVF-Flat / Flat: vectors served from the mapped file."""

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import adanns
from adanns.datasets import synthetic_matryoshka
from reference import brute_force


@pytest.fixture(scope="module")
def data():
    x = synthetic_matryoshka(3_200, 40, n_clusters=20, seed=5)
    return x[200:], x[:200].copy()


def built(xb, metric="l2", nlist=16):
    idx = adanns.IVFIndex(xb.shape[1], nlist, coarse_dim=16, metric=metric)
    idx.train(xb)
    idx.add(xb, 7 + 2 * np.arange(xb.shape[0]))
    return idx


SETTINGS = [dict(nprobe=4), dict(nprobe=16), dict(nprobe=8, scan_dim=12, rerank_k=50), dict(nprobe=16, rerank_dim=20)]


@pytest.mark.parametrize("metric", ["l2", "ip", "cosine"])
def test_mapped_index_searches_like_the_ram_index(data, tmp_path, metric):
    xb, xq = data
    idx = built(xb, metric)
    p = tmp_path / "i.adanns"
    idx.save(p)
    m = adanns.load(p, mmap=True)
    assert m.is_mapped and not idx.is_mapped and m.ntotal == idx.ntotal
    for s in SETTINGS:
        D0, I0 = idx.search(xq, 10, **s)
        D1, I1 = m.search(xq, 10, **s)
        np.testing.assert_array_equal(I0, I1)
        np.testing.assert_array_equal(D0, D1)


def test_mapped_flat_index_is_exact(data, tmp_path):
    xb, xq = data
    f = adanns.FlatIndex(xb.shape[1])
    f.add(xb)
    f.save(tmp_path / "f")
    m = adanns.load(tmp_path / "f", mmap=True)
    assert m.is_mapped
    D, I = m.search(xq, 10)
    Dr, Ir = brute_force(xb, xq, 10, "l2")
    np.testing.assert_array_equal(I, Ir)


def test_updates_copy_on_write(data, tmp_path):
    xb, xq = data
    idx = built(xb)
    p = tmp_path / "i"
    idx.save(p)
    before = p.read_bytes()
    m = adanns.load(p, mmap=True)
    nmapped = m._core.mapped_lists
    extra = xq[:30] + 0.01
    for target in (idx, m):
        target.add(extra[:1], [10**7])
    assert m._core.mapped_lists == nmapped - 1  # only the changed list was copied into memory
    for target in (idx, m):
        target.add(extra, 10**6 + np.arange(30))
        assert target.remove_ids(7 + 2 * np.arange(0, 600, 3)) == 200
        target.update(xq[30:40], 7 + 2 * np.arange(1000, 1010))
    assert m.ntotal == idx.ntotal
    for s in SETTINGS:
        np.testing.assert_array_equal(idx.search(xq, 10, **s)[1], m.search(xq, 10, **s)[1])
    assert p.read_bytes() == before  # the file is never written through the mapping
    # saving over the mapped file itself: the mapping keeps the old copy, the new file is complete
    m.save(p)
    np.testing.assert_array_equal(m.search(xq, 10, nprobe=16)[1], idx.search(xq, 10, nprobe=16)[1])
    again = adanns.load(p, mmap=True)
    np.testing.assert_array_equal(again.search(xq, 10, nprobe=16)[1], idx.search(xq, 10, nprobe=16)[1])
    m.reset()
    assert m.ntotal == 0 and not m.is_mapped
    m.add(xb[:100])
    assert m.ntotal == 100


def test_file_replaced_under_a_mapped_index(data, tmp_path):
    """Replacing the file (as save does: new file, rename) leaves the mapped index working."""
    xb, xq = data
    idx = built(xb)
    p = tmp_path / "i"
    idx.save(p)
    m = adanns.load(p, mmap=True)
    built(xb[:1000]).save(p)
    np.testing.assert_array_equal(m.search(xq, 10, nprobe=16)[1], idx.search(xq, 10, nprobe=16)[1])


def test_mmap_refused_for_other_index_types(data, tmp_path):
    xb, _ = data
    pq = adanns.PQIndex(xb.shape[1], pq_dim=16, m=4, pq_niter=2)
    pq.train(xb)
    pq.add(xb)
    pq.save(tmp_path / "pq")
    with pytest.raises(ValueError, match="mmap"):
        adanns.load(tmp_path / "pq", mmap=True)


def test_empty_and_transformed_index_map(data, tmp_path):
    xb, xq = data
    idx = adanns.IVFIndex(xb.shape[1], 8, transform="pca")
    idx.train(xb)
    idx.save(tmp_path / "e")
    m = adanns.load(tmp_path / "e", mmap=True)
    assert m.ntotal == 0 and not m.is_mapped
    m.add(xb)
    idx.add(xb)
    np.testing.assert_array_equal(m.search(xq, 5, nprobe=8)[1], idx.search(xq, 5, nprobe=8)[1])


CHILD = textwrap.dedent("""
    import resource, sys
    import numpy as np
    import adanns
    path, qpath, epath, limit_mb = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    xq = np.load(qpath)
    expected = np.load(epath)
    def vm_data():
        for line in open("/proc/self/status"):
            if line.startswith("VmData:"):
                return int(line.split()[1]) * 1024
    # the data segment limit (heap and private writable mappings; a read-only file mapping is not
    # counted): what the process has now plus limit_mb, less than the index file
    lim = vm_data() + limit_mb * 2**20
    resource.setrlimit(resource.RLIMIT_DATA, (lim, lim))
    m = adanns.load(path, mmap=True)
    D, I = m.search(xq, 10, nprobe=m.nlist)
    assert (I == expected).all(), "mapped search differs"
    try:
        adanns.load(path)
    except MemoryError:
        print("ram-load-refused")
    print("ok", vm_data() <= lim)
""")


@pytest.mark.skipif("asan" in os.environ.get("LD_PRELOAD", ""),
                    reason="AddressSanitizer's allocator aborts on a refused allocation instead of raising")
def test_mapped_index_larger_than_the_memory_limit(tmp_path):
    """A 150 MB index (146 MiB) searched by a process whose data limit (RLIMIT_DATA: heap and private
    memory) leaves room for 48 MB: the mapped vectors do not count, a RAM load of the same file fails."""
    rng = np.random.default_rng(0)
    n, d = 300_000, 128
    xb = rng.standard_normal((n, d), dtype=np.float32)
    xq = rng.standard_normal((5, d), dtype=np.float32)
    idx = adanns.IVFIndex(d, 8)
    idx.train(xb[:20_000])
    idx.add(xb)
    del xb
    p = tmp_path / "big.adanns"
    idx.save(p)
    assert os.path.getsize(p) > 140 * 2**20  # about three times the limit below
    expected = idx.search(xq, 10, nprobe=8)[1]
    del idx
    np.save(tmp_path / "q.npy", xq)
    np.save(tmp_path / "e.npy", expected)
    child = tmp_path / "child.py"
    child.write_text(CHILD)
    env = dict(os.environ, OMP_NUM_THREADS="2")
    r = subprocess.run([sys.executable, str(child), str(p), str(tmp_path / "q.npy"), str(tmp_path / "e.npy"), "48"],
                       capture_output=True, text=True, timeout=300, env=env)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "ram-load-refused" in r.stdout and "ok True" in r.stdout, r.stdout
