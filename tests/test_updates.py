"""remove_ids / update, their persistence, and searches racing with writers."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

import adanns
from reference import brute_force, built_ivf, run_while_searching


@pytest.fixture()
def index_and_data():
    rng = np.random.default_rng(8)
    xb = rng.standard_normal((3000, 20)).astype(np.float32)
    index = adanns.IVFIndex(20, 16, coarse_dim=10)
    index.train(xb)
    index.add(xb, ids=np.arange(3000) * 2)
    return index, xb


def test_remove_ids(index_and_data):
    index, xb = index_and_data
    gone = np.arange(0, 3000, 3) * 2
    assert index.remove_ids(gone) == 1000
    assert index.ntotal == 2000
    assert index.remove_ids(gone) == 0
    assert index.remove_ids([1, 3, 5]) == 0  # odd ids were never there
    D, I = index.search(xb[:300], 10, nprobe=16)
    assert not np.isin(I, gone).any()
    keep = np.setdiff1d(np.arange(3000), gone // 2)
    Dr, Ir = brute_force(xb[keep], xb[:300], 10, "l2")
    np.testing.assert_array_equal(I, keep[Ir] * 2)
    assert index.remove_ids(7 * 2) == 1  # a scalar works too


def test_update_replaces_vectors(index_and_data):
    index, xb = index_and_data
    new = xb[:50] + 10
    assert index.update(new, np.arange(50) * 2) == 50
    assert index.ntotal == 3000
    D, I = index.search(new, 1, nprobe=16)
    assert (I[:, 0] == np.arange(50) * 2).all() and np.allclose(D[:, 0], 0, atol=1e-3)
    assert index.update(xb[:2], [100_001, 100_003]) == 0  # new ids are added
    assert index.ntotal == 3002
    with pytest.raises(ValueError, match="unique"):
        index.update(xb[:2], [5, 5])


def test_update_of_every_vector(index_and_data):
    """An update that empties lists and refills them (every vector replaced, twice)."""
    index, xb = index_and_data
    new = xb[::-1] + 1
    for _ in range(2):
        assert index.update(new, np.arange(3000) * 2) == 3000
        assert index.ntotal == 3000
    D, I = index.search(xb[:200], 10, nprobe=16)
    Dr, Ir = brute_force(new, xb[:200], 10, "l2")
    np.testing.assert_array_equal(I, Ir * 2)
    np.testing.assert_allclose(D, Dr, rtol=1e-4, atol=1e-4)


def test_removals_persist(index_and_data, tmp_path):
    index, xb = index_and_data
    index.remove_ids(np.arange(100) * 2)
    index.save(tmp_path / "r.adanns")
    loaded = adanns.load(tmp_path / "r.adanns")
    assert loaded.ntotal == 2900
    for a, b in zip(index.search(xb[:100], 5, nprobe=4), loaded.search(xb[:100], 5, nprobe=4)):
        np.testing.assert_array_equal(a, b)
    # sequential ids continue after the largest id ever seen
    loaded.add(xb[:1])
    assert loaded.search(xb[:1], 2, nprobe=16)[1][0].max() == 2 * 2999 + 1


def test_hammer_search_update_remove():
    """Writers replace and delete vectors while readers search; every answer is consistent."""
    rng = np.random.default_rng(0)
    base = rng.standard_normal((4000, 16)).astype(np.float32)
    index = built_ivf(base, 16, 8)
    stable = base[:100]  # rows 0..99 are never touched by writers

    def check():
        D, I = index.search(stable, 1, nprobe=8)
        assert (I[:, 0] == np.arange(100)).all()
        assert np.allclose(D[:, 0], 0, atol=1e-4)
        # any vector present is either an original row or one of the replacements
        _, I2 = index.search(base[100:200], 3, nprobe=8)
        assert ((I2 >= 0) & (I2 < 4000) | (I2 == -1)).all()

    def writer(seed):
        r = np.random.default_rng(seed)
        mine = np.arange(100 + seed, 4000, 2)  # writers own disjoint ids
        for _ in range(30):
            ids = r.choice(mine, 50, replace=False)
            if r.random() < 0.5:
                index.update(base[ids] + r.standard_normal((50, 16)).astype(np.float32), ids)
            else:
                index.remove_ids(ids)
                index.add(base[ids], ids=ids)

    def two_writers():
        with ThreadPoolExecutor(2) as pool:
            list(pool.map(writer, range(2)))  # re-raises a writer's exception

    run_while_searching(check, two_writers)
    assert index.ntotal == 4000
    assert len(np.unique(index.search(base[:1], 4000, nprobe=8)[1])) == 4000


def test_huge_k_is_refused_cleanly():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 4)).astype(np.float32)
    index = adanns.FlatIndex(4)
    index.add(x)
    with pytest.raises(ValueError, match="larger than"):
        index.search(x, 10**12)
    # rerank_k far beyond the index is clamped, not allocated
    D, I = index.search(x[:2], 5, rerank_k=10**15)
    assert (I >= 0).all()


def test_result_size_guard(monkeypatch):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((100, 4)).astype(np.float32)
    index = adanns.FlatIndex(4)
    index.add(x)
    monkeypatch.setattr("adanns._limits.memory_limit", lambda: 1000)
    with pytest.raises(MemoryError, match="GiB"):
        index.search(x, 50)
