"""Work and memory of a search stay bounded whatever nq, nprobe and rerank_k ask for."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import adanns
from adanns.params import SearchStats
from reference import run_script

BOUNDED = textwrap.dedent(
    r"""
    import resource
    import numpy as np
    import adanns

    rng = np.random.default_rng(0)
    d, nlist, nq = 4, 512, 80_000
    xb = rng.standard_normal((4 * nlist, d), dtype=np.float32)
    xq = rng.standard_normal((nq, d), dtype=np.float32)
    ivf = adanns.IVFIndex(dim=d, nlist=nlist, niter=2)
    ivf.train(xb)
    ivf.add(xb)
    pq = adanns.IVFPQIndex(dim=d, nlist=nlist, m=2, niter=2, pq_niter=2, keep_full="ram")
    pq.train(xb)
    pq.add(xb)
    part = slice(nq - 7, nq)
    expect = [ix.search(xq[part], 1, nprobe=nlist) for ix in (ivf, pq)]
    # A probe table of nq x nprobe int64 (328 MB) at once does not fit under this limit.
    with open("/proc/self/status") as f:
        vm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmSize"))
    resource.setrlimit(resource.RLIMIT_AS, (vm + (280 << 20), resource.RLIM_INFINITY))
    for ix, (De, Ie) in zip((ivf, pq), expect):
        D, I = ix.search(xq, 1, nprobe=nlist)
        assert (I[part] == Ie).all()
        np.testing.assert_allclose(D[part], De, rtol=1e-5, atol=1e-5)
    print("ok")
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="RLIMIT_AS and /proc")
def test_probe_table_built_in_blocks(tmp_path):
    r = run_script(tmp_path, BOUNDED, timeout=600)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


@pytest.mark.parametrize("family", ["ivf", "ivfpq"])
def test_rerank_k_beyond_index_is_bounded_by_the_scanned_rows(family):
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((3000, 16), dtype=np.float32)
    xq = rng.standard_normal((40, 16), dtype=np.float32)
    if family == "ivf":
        ix = adanns.IVFIndex(dim=16, nlist=30, niter=4)
        kw = {"scan_dim": 8}
    else:
        ix = adanns.IVFPQIndex(dim=16, nlist=30, m=4, niter=4, pq_niter=4, keep_full="ram")
        kw = {}
    ix.train(xb)
    ix.add(xb)
    st_all, st_huge = SearchStats(), SearchStats()
    ref = ix.search(xq, 5, nprobe=2, rerank_k=3000, stats=st_all, **kw)
    got = ix.search(xq, 5, nprobe=2, rerank_k=10**12, stats=st_huge, **kw)
    np.testing.assert_array_equal(ref[1], got[1])
    np.testing.assert_array_equal(ref[0], got[0])
    # every candidate reranked was scanned: the rerank never goes beyond the probed lists
    assert st_huge.candidates_reranked <= st_huge.rows_scanned
    assert st_huge.candidates_reranked == st_all.candidates_reranked
