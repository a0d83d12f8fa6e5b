"""Progress bars for train / add / tune: shown when asked (tqdm installed), silenced by the flag,
and an add interrupted between blocks leaves the index as it was."""

import numpy as np
import pytest

import adanns
from adanns import _progress
from adanns.datasets import synthetic_matryoshka

tqdm = pytest.importorskip("tqdm")


@pytest.fixture(scope="module")
def data():
    x = synthetic_matryoshka(150_000, 16, n_clusters=20, seed=1)
    return x[1000:], x[:1000].copy()


def test_bars_shown_and_silenced(data, capsys):
    xb, xq = data
    idx = adanns.IVFIndex(16, 32, transform="pca")
    idx.train(xb[:20_000], progress=True)
    assert "adanns train" in capsys.readouterr().err
    idx.add(xb, progress=True)
    assert "adanns add" in capsys.readouterr().err
    idx.tune(xq[:100], progress=True, measure_qps=False)
    assert "adanns tune" in capsys.readouterr().err
    other = adanns.IVFIndex(16, 32, transform="pca")
    other.train(xb[:20_000], progress=False)
    other.add(xb, progress=False)
    other.tune(xq[:100], progress=False, measure_qps=False)
    other.add(xq[:10])  # auto: below the threshold
    assert capsys.readouterr().err == ""
    other.remove_ids(np.arange(xb.shape[0], xb.shape[0] + 10))
    # the blocks of a progress add build the same index as one add
    for s in (dict(nprobe=4), dict(nprobe=32)):
        np.testing.assert_array_equal(idx.search(xq, 10, **s)[1], other.search(xq, 10, **s)[1])


def test_environment_silences_auto(data, capsys, monkeypatch):
    xb, _ = data
    monkeypatch.setattr(_progress, "THRESHOLD", 1000)
    assert _progress.wanted(None, 5000)
    monkeypatch.setenv("ADANNS_PROGRESS", "0")
    assert not _progress.wanted(None, 5000)
    assert _progress.wanted(True, 10)
    assert not _progress.wanted(False, 10**9)


class _FailingCore:
    """Delegates to the real core; the n-th per-block call of an add with a bar (IVF: prepare,
    PQ: add) raises KeyboardInterrupt (as Ctrl-C would)."""

    def __init__(self, core, fail_at):
        self._c, self._n, self._fail = core, 0, fail_at

    def _block(self, name, *a):
        self._n += 1
        if self._n == self._fail:
            raise KeyboardInterrupt
        return getattr(self._c, name)(*a)

    def prepare(self, *a):
        return self._block("prepare", *a)

    def add(self, *a):
        return self._block("add", *a)

    def __getattr__(self, name):
        return getattr(self._c, name)


@pytest.mark.parametrize("with_ids", [False, True])
def test_interrupted_progress_add_leaves_the_index_as_it_was(data, with_ids):
    xb, xq = data
    idx = adanns.IVFIndex(16, 16)
    idx.train(xb[:10_000])
    idx.add(xb[:500])
    before = idx.search(xq, 10, nprobe=16)
    core = idx._core
    idx._core = _FailingCore(core, fail_at=2)
    ids = np.arange(10**6, 10**6 + xb.shape[0]) if with_ids else None
    with pytest.raises(KeyboardInterrupt):
        idx.add(xb, ids, progress=True)
    idx._core = core
    assert idx.ntotal == 500
    assert core.next_id == 500  # no default id consumed either
    after = idx.search(xq, 10, nprobe=16)
    np.testing.assert_array_equal(before[1], after[1])


def test_pq_and_graph_bars_shown_and_silenced(data, capsys, monkeypatch):
    xb, xq = data
    xb = xb[:20_000]
    results = {}
    for show in (True, False):
        pq = adanns.IVFPQIndex(16, 16, m=4, pq_niter=3, opq=True, opq_niter=2)
        pq.train(xb[:5_000], progress=show)
        pq.add(xb, progress=show)
        g = adanns.GraphIndex(16, 8, degree=8, build_beam=16)
        g.add(xb[:3_000], progress=show)
        err = capsys.readouterr().err
        assert ("adanns train" in err and "adanns add" in err) == show and (err == "") != show
        results[show] = (pq.search(xq, 10, nprobe=4, rerank_k=20), g.search(xq, 10, beam=32))
    for a, b in zip(results[True], results[False]):  # a bar changes nothing in the index
        for u, v in zip(a, b):
            np.testing.assert_array_equal(u, v)
    # auto: shown above the threshold unless ADANNS_PROGRESS=0
    monkeypatch.setattr(_progress, "THRESHOLD", 1000)
    g = adanns.GraphIndex(16, 8, degree=8, build_beam=16)
    g.add(xb[:2_000])
    assert "adanns add" in capsys.readouterr().err
    monkeypatch.setenv("ADANNS_PROGRESS", "0")
    g.add(xb[2_000:4_000])
    pq = adanns.PQIndex(16, m=4, pq_niter=3)
    pq.train(xb[:5_000])
    pq.add(xb[:5_000])
    assert capsys.readouterr().err == ""


def test_interrupted_pq_progress_add_leaves_the_index_as_it_was(data):
    xb, xq = data
    idx = adanns.IVFPQIndex(16, 16, m=4, pq_niter=3)
    idx.train(xb[:10_000])
    idx.add(xb[:500])
    before = idx.search(xq, 10, nprobe=16, rerank_k=20)
    core = idx._core
    idx._core = _FailingCore(core, fail_at=2)
    with pytest.raises(KeyboardInterrupt):
        idx.add(xb, progress=True)
    idx._core = core
    assert idx.ntotal == 500
    for a, b in zip(before, idx.search(xq, 10, nprobe=16, rerank_k=20)):
        np.testing.assert_array_equal(a, b)
