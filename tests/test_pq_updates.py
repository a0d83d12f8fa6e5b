"""remove_ids / update on PQIndex and IVFPQIndex: exact-mode results against numpy brute force,
persisted removals (RAM and mmap full vectors), and searches racing with writers."""

import numpy as np
import pytest

import adanns
from reference import brute_force, run_while_searching

FAST = dict(pq_niter=6, opq_niter=2)
N, DIM = 1500, 24


def make(cls, keep_full="ram", metric="l2", seed=5):
    rng = np.random.default_rng(seed)
    xb = rng.standard_normal((N, DIM)).astype(np.float32)
    kw = dict(nlist=8, coarse_dim=12) if cls is adanns.IVFPQIndex else {}
    idx = cls(DIM, pq_dim=16, m=4, metric=metric, keep_full=keep_full, **kw, **FAST)
    idx.train(xb)
    idx.add(xb, ids=np.arange(N) * 2)
    return idx, xb


def exact(idx, xq, k):
    """Search at settings where PQ is exact: every list probed, every vector reranked."""
    extra = dict(nprobe=idx.nlist) if isinstance(idx, adanns.IVFPQIndex) else {}
    return idx.search(xq, k, rerank_k=idx.ntotal, **extra)


CLASSES = [adanns.PQIndex, adanns.IVFPQIndex]


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("metric", ["l2", "cosine"])
def test_remove_ids_exact(cls, metric):
    idx, xb = make(cls, metric=metric)
    gone = np.arange(0, N, 3) * 2
    assert idx.remove_ids(gone) == N // 3
    assert idx.ntotal == N - N // 3
    assert idx.remove_ids(gone) == 0
    assert idx.remove_ids([1, 3, 5]) == 0  # odd ids were never there
    D, I = exact(idx, xb[:100], 10)
    keep = np.setdiff1d(np.arange(N), gone // 2)
    Dr, Ir = brute_force(xb[keep], xb[:100], 10, metric)
    np.testing.assert_array_equal(I, keep[Ir] * 2)
    np.testing.assert_allclose(D, Dr, rtol=1e-4, atol=1e-4)
    assert idx.remove_ids(7 * 2) == 1  # a scalar works too


@pytest.mark.parametrize("cls", CLASSES)
def test_update_exact(cls):
    idx, xb = make(cls)
    new = xb[:40] + 5
    assert idx.update(new, np.arange(40) * 2) == 40
    assert idx.ntotal == N
    ref = xb.copy()
    ref[:40] = new
    D, I = exact(idx, xb[:80], 5)
    Dr, Ir = brute_force(ref, xb[:80], 5, "l2")
    np.testing.assert_array_equal(I, Ir * 2)
    np.testing.assert_allclose(D, Dr, rtol=1e-4, atol=1e-4)
    assert idx.update(xb[:2], [100_001, 100_003]) == 0  # new ids are added
    assert idx.ntotal == N + 2
    with pytest.raises(ValueError, match="unique"):
        idx.update(xb[:2], [5, 5])
    # sequential ids continue after the largest id ever seen
    far = xb[:1] + 100
    idx.add(far)
    assert exact(idx, far, 1)[1][0, 0] == 100_004


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("keep_full", ["ram", "mmap", None])
def test_update_of_every_vector(cls, keep_full):
    """An update that replaces every stored vector (its removal empties the index) keeps the
    rerank store its new rows continue: it once raised after removing everything."""
    idx, xb = make(cls, keep_full=keep_full)
    new = xb[::-1] + 1
    for _ in range(2):
        assert idx.update(new, np.arange(N) * 2) == N
        assert idx.ntotal == N
    D, I = idx.search(new[:60], 1, **(dict(nprobe=idx.nlist) if cls is adanns.IVFPQIndex else {}),
                      rerank_k=50 if keep_full else 0)
    assert (I[:, 0] == np.arange(60) * 2).mean() > (0.99 if keep_full else 0.5)
    if keep_full:
        D, I = exact(idx, xb[:50], 5)
        Dr, Ir = brute_force(new, xb[:50], 5, "l2")
        np.testing.assert_array_equal(I, Ir * 2)
        np.testing.assert_allclose(D, Dr, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("cls", CLASSES)
@pytest.mark.parametrize("keep_full", ["ram", "mmap", None])
def test_removals_and_updates_persist(cls, keep_full, tmp_path):
    idx, xb = make(cls, keep_full=keep_full)
    idx.remove_ids(np.arange(100) * 2)
    idx.update(xb[200:210] * 0.5, np.arange(200, 210) * 2)
    path = tmp_path / "p.adanns"
    idx.save(path)
    loaded = adanns.load(path)
    assert loaded.ntotal == N - 100
    if keep_full == "mmap":
        assert loaded.full_is_mmapped
    rk = 0 if keep_full is None else 50
    extra = dict(nprobe=4) if cls is adanns.IVFPQIndex else {}
    for a, b in zip(idx.search(xb[:60], 5, rerank_k=rk, **extra), loaded.search(xb[:60], 5, rerank_k=rk, **extra)):
        np.testing.assert_array_equal(a, b)
    if keep_full is not None:
        D, I = exact(loaded, xb[:60], 5)
        ref = xb.copy()
        ref[200:210] *= 0.5
        keep = np.arange(100, N)
        Dr, Ir = brute_force(ref[keep], xb[:60], 5, "l2")
        np.testing.assert_array_equal(I, keep[Ir] * 2)
    # a second round trip after more writes on the loaded index
    loaded.remove_ids(np.arange(100, 150) * 2)
    loaded.add(xb[:3], ids=[10**6, 10**6 + 1, 10**6 + 2])
    loaded.save(tmp_path / "q.adanns")
    again = adanns.load(tmp_path / "q.adanns")
    assert again.ntotal == N - 150 + 3
    for a, b in zip(loaded.search(xb[:30], 5, rerank_k=rk, **extra), again.search(xb[:30], 5, rerank_k=rk, **extra)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("cls", CLASSES)
def test_hammer_search_update_remove(cls):
    """Searches racing with updates and removals always see a whole index: with every vector
    reranked exactly, each query's nearest neighbour is itself (old or new copy, never absent)."""
    idx, xb = make(cls)
    xq = xb[:64]

    def check():
        _, I = exact(idx, xq, 1)
        assert (I[:, 0] == np.arange(64) * 2).all(), I[:, 0]

    def churn():
        for it in range(15):
            idx.update(xq + 1e-3 * (it % 3), np.arange(64) * 2)
            idx.remove_ids(np.arange(64, 128) * 2)
            idx.add(xb[64:128], ids=np.arange(64, 128) * 2)

    run_while_searching(check, churn, readers=2)
    assert idx.ntotal == N
