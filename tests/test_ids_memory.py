"""Default ids across remove / save / load / reset, and memory given back by reset and by
removing everything."""

from __future__ import annotations

import sys
import textwrap

import numpy as np
import pytest

import adanns
from reference import run_script

D = 8


def _make(family):
    if family == "ivf":
        return adanns.IVFIndex(dim=D, nlist=4, niter=2)
    if family == "flat":
        return adanns.FlatIndex(dim=D)
    if family == "ivfpq":
        return adanns.IVFPQIndex(dim=D, nlist=4, m=2, niter=2, pq_niter=2, keep_full="ram")
    if family == "pq":
        return adanns.PQIndex(dim=D, m=2, pq_niter=2, keep_full="ram")
    return adanns.GraphIndex(dim=D, degree=8, build_beam=16)


def _ready(family, xb):
    ix = _make(family)
    if family in ("ivf", "ivfpq", "pq"):
        ix.train(xb)
    return ix


@pytest.fixture(scope="module")
def xb():
    return np.random.default_rng(0).standard_normal((400, D), dtype=np.float32)


def _all_ids(ix, x):
    return set(ix.search(x, ix.ntotal)[1].ravel().tolist()) - {-1}


@pytest.mark.parametrize("family", ["ivf", "flat", "ivfpq", "pq", "graph"])
def test_removed_largest_default_id_not_reused_after_save_load(family, xb, tmp_path):
    ix = _ready(family, xb)
    ix.add(xb[:300])
    assert ix.remove_ids([299]) == 1
    path = tmp_path / "ix.adanns"
    ix.save(path)
    back = adanns.load(path)
    back.add(xb[300:301])
    ids = _all_ids(back, xb[:5])
    assert 299 not in ids and 300 in ids


def test_file_without_next_id_loads_as_before(xb, tmp_path):
    # files written before next_id was saved: the next id is the largest stored id + 1
    ix = _ready("ivf", xb)
    ix.add(xb[:50])
    ix.remove_ids([49])
    header, sections = ix._to_sections()
    del header["next_id"]
    from adanns._format import write_index_file

    write_index_file(tmp_path / "old.adanns", header, sections)
    back = adanns.load(tmp_path / "old.adanns")
    back.add(xb[50:51])
    assert 49 in _all_ids(back, xb[:3])  # (no next_id: largest stored id + 1, as before)


@pytest.mark.parametrize("family", ["ivf", "flat", "ivfpq", "pq"])
def test_reset_restarts_default_ids_at_zero(family, xb):
    ix = _ready(family, xb)
    ix.add(xb[:20])
    ix.reset()
    assert ix.ntotal == 0
    ix.add(xb[:3])
    assert _all_ids(ix, xb[:3]) == {0, 1, 2}
    D_, I_ = ix.search(xb[:3], 1)
    assert I_[:, 0].tolist() == [0, 1, 2]


@pytest.mark.parametrize("family", ["ivfpq", "pq"])
def test_pq_remove_everything_then_add_and_rerank(family, xb):
    ix = _ready(family, xb)
    ix.add(xb[:50])
    assert ix.remove_ids(np.arange(50)) == 50
    ix.add(xb[100:110])
    D_, I_ = ix.search(xb[100:110], 1, rerank_k=5)
    assert I_[:, 0].tolist() == list(range(50, 60))
    np.testing.assert_allclose(D_[:, 0], 0, atol=1e-4)


MEMORY = textwrap.dedent(
    r"""
    import sys
    import numpy as np
    import adanns

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * 4096

    family, how = sys.argv[1], sys.argv[2]
    rng = np.random.default_rng(0)
    d, n = 64, 400_000  # 100 MiB of vectors
    if family == "ivf":
        ix = adanns.IVFIndex(dim=d, nlist=8, niter=2)
    else:
        ix = adanns.PQIndex(dim=d, m=8, pq_niter=2, keep_full="ram")
    ix.train(rng.standard_normal((4096, d), dtype=np.float32))
    for b in range(0, n, 100_000):
        ix.add(rng.standard_normal((100_000, d), dtype=np.float32))
    before = rss()
    if how == "reset":
        ix.reset()
    else:
        assert ix.remove_ids(np.arange(n)) == n
    after = rss()
    print((before - after) / 2**20)
    """
)


@pytest.mark.skipif(sys.platform != "linux", reason="/proc/self/statm")
@pytest.mark.parametrize("family", ["ivf", "pq"])
@pytest.mark.parametrize("how", ["reset", "remove"])
def test_reset_and_remove_all_release_memory(tmp_path, family, how):
    r = run_script(tmp_path, MEMORY, family, how, timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    freed_mib = float(r.stdout.strip().splitlines()[-1])
    assert freed_mib > 60, freed_mib  # the 100 MiB of stored vectors went back to the system
