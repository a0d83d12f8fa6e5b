"""ShardedIndex on a local Ray cluster: equal to one index, persistence, dead shards, bad input.

One Ray session (``ray.init(num_cpus=2)``) serves the whole module; the tests skip when ray is
not installed (``pip install ".[test,ray]"``).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import adanns
from adanns.sharded import merge_topk, shard_of
from reference import brute_force

DIM, NLIST, COARSE = 32, 16, 8


@pytest.fixture(scope="module")
def ray_session(tmp_path_factory):
    ray = pytest.importorskip("ray")
    started = not ray.is_initialized()
    if started:
        # Ray puts the driver's working directory on the workers' sys.path; started from the
        # repository root, the source folder adanns/ (without the compiled core) would shadow
        # the installed package there. Start Ray from an empty directory instead.
        cwd = os.getcwd()
        os.chdir(tmp_path_factory.mktemp("ray"))
        try:
            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        finally:
            os.chdir(cwd)
    yield ray
    if started:
        ray.shutdown()


def _kill_and_wait(ray, actor, timeout=60.0):
    """``ray.kill`` is asynchronous: a call sent right after it may still be served. Wait until
    the actor answers with RayActorError so that the test sees a dead shard deterministically."""
    import time
    ray.kill(actor)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            ray.get(actor.ntotal.remote(), timeout=timeout)
        except ray.exceptions.RayActorError:
            return
        time.sleep(0.05)
    raise AssertionError("the killed actor still answers")


def _data(n=3000, nq=40, seed=0):
    rng = np.random.default_rng(seed)
    scale = np.exp(-0.05 * np.arange(DIM)).astype(np.float32)
    centres = rng.standard_normal((20, DIM)).astype(np.float32) * scale
    x = centres[rng.integers(0, 20, n + nq)] + 0.5 * rng.standard_normal((n + nq, DIM)).astype(np.float32) * scale
    return np.ascontiguousarray(x[:n]), np.ascontiguousarray(x[n:])


def _pair(metric, shards=3, xb=None, ids=None, nlist=NLIST, coarse=COARSE):
    """A single index and a sharded one built the same way from the same data."""
    single = adanns.IVFIndex(xb.shape[1], nlist, coarse, metric)
    single.train(xb)
    single.add(xb, ids=ids)
    sharded = adanns.ShardedIndex(adanns.IVFIndex, shards=shards, dim=xb.shape[1], nlist=nlist,
                                  coarse_dim=coarse, metric=metric)
    sharded.train(xb)
    sharded.add(xb, ids=ids)
    return single, sharded


@pytest.fixture(scope="module")
def l2_pair(ray_session):
    """One single index and one 3-shard index on the same data, shared by several tests
    (each actor start costs a process); tests that change it put it back."""
    xb, xq = _data()
    single, sharded = _pair("l2", xb=xb)
    yield xb, xq, single, sharded
    sharded.close()


SETTINGS = [
    dict(nprobe=3),
    dict(nprobe=4, scan_dim=8, rerank_k=25),
    dict(nprobe=4, scan_dim=8, rerank_k=5, rerank_dim=16, probe_dim=4),
]


# ----------------------------------------------------------------------------- no Ray needed
def test_import_does_not_import_ray():
    code = "import sys, adanns; assert 'ray' not in sys.modules, 'import adanns imported ray'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.abspath(__file__)))


def test_merge_orders_by_distance_then_id_missing_last():
    D = np.array([[1.0, 2.0, np.inf, 1.0, 0.5, np.inf]], np.float32)
    I = np.array([[7, 3, -1, 2, 9, -1]], np.int64)
    d, i = merge_topk(D, I, 5, descending=False)
    assert i.tolist() == [[9, 2, 7, 3, -1]]
    S = np.array([[0.5, 0.9, -np.inf, 0.9]], np.float32)
    d, i = merge_topk(S, np.array([[4, 8, -1, 1]]), 4, descending=True)
    assert i.tolist() == [[1, 8, 4, -1]] and d[0, 0] == np.float32(0.9)


def test_shard_of_is_balanced_and_stable():
    owner = shard_of(np.arange(100_000), 4)
    assert np.bincount(owner, minlength=4).min() > 24_000
    assert shard_of(np.array([0, 1, 2, 12345]), 4).tolist() == shard_of(np.array([0, 1, 2, 12345]), 4).tolist()
    strided = shard_of(np.arange(0, 400_000, 4), 4)  # ids that are all multiples of the shard count
    assert np.bincount(strided, minlength=4).min() > 24_000


# ----------------------------------------------------------------------------- equal to one index
def _check_equal(xb, xq, single, sharded, metric):
    assert np.array_equal(sharded.centroids(), single.centroids())
    assert sharded.ntotal == single.ntotal
    sizes = sharded.shard_sizes()
    assert sizes.sum() == single.ntotal and sizes.min() > 0
    for kw in SETTINGS:
        D1, I1 = single.search(xq, 10, **kw)
        D2, I2 = sharded.search(xq, 10, **kw)
        np.testing.assert_array_equal(I2, I1, err_msg=str(kw))
        np.testing.assert_allclose(D2, D1, rtol=1e-5, atol=1e-5, err_msg=str(kw))
    # local rerank: a superset of one index's candidates, so recall is at least as high
    kw = dict(nprobe=4, scan_dim=8, rerank_k=25)
    _, It = brute_force(xb, xq, 10, metric)
    _, I1 = single.search(xq, 10, **kw)
    _, I3 = sharded.search(xq, 10, exact_rerank=False, **kw)
    rec = lambda I: np.mean([len(set(a) & set(b)) for a, b in zip(I, It)]) / 10  # noqa: E731
    assert rec(I3) >= rec(I1) - 1e-9


def test_sharded_equals_single_index_l2(l2_pair):
    xb, xq, single, sharded = l2_pair
    _check_equal(xb, xq, single, sharded, "l2")
    assert sharded.ntotal == len(xb)


def test_sharded_equals_single_index_ip(ray_session):
    xb, xq = _data()
    single, sharded = _pair("ip", xb=xb)
    try:
        _check_equal(xb, xq, single, sharded, "ip")
    finally:
        sharded.close()


@pytest.mark.parametrize("metric", ["l2", "ip"])
def test_exact_ties_are_resolved_deterministically(ray_session, metric):
    # Small-integer vectors: every distance is an exact integer, so ties are frequent and exact.
    # One index breaks exact ties by its internal (list, row) position, which a shard cannot
    # know; the sharded index breaks them by id. So under exact ties the two agree on every
    # distance (the top-k is equally correct) and the sharded ids are ordered by (distance, id).
    # With a rerank, a tie at the scan cut can put different (equally good) candidates in the
    # rerank pool; the sharded result is then checked for validity and determinism only.
    rng = np.random.default_rng(3)
    base = rng.integers(-2, 3, (400, 16)).astype(np.float32)
    xb = np.concatenate([base, base, base])  # each vector three times, under three ids
    xq = rng.integers(-2, 3, (30, 16)).astype(np.float32)
    single, sharded = _pair(metric, shards=3, xb=xb, nlist=8, coarse=16)
    try:
        D0, _ = brute_force(xb, xq, 20, metric)
        for kw in [dict(nprobe=8), dict(nprobe=3, scan_dim=6, rerank_k=40)]:
            D1, I1 = single.search(xq, 20, **kw)
            D2, I2 = sharded.search(xq, 20, **kw)
            if "rerank_k" not in kw:  # with a rerank, a tie at the scan cut may pick another pool
                np.testing.assert_array_equal(D2, D1)
            full = brute_force(xb, xq, len(xb), metric, d=16 if "rerank_k" not in kw else None)
            true = np.empty_like(full[0])
            np.put_along_axis(true, full[1], full[0], 1)
            np.testing.assert_array_equal(np.take_along_axis(true, I2, 1), D2)  # each id's own distance
            assert all(len(set(r)) == len(r) for r in I2.tolist())
            key = D2 if metric == "l2" else -D2
            assert np.all((np.diff(key, axis=1) > 0) | ((np.diff(key, axis=1) == 0) & (np.diff(I2, axis=1) > 0)))
            np.testing.assert_array_equal(sharded.search(xq[::-1], 20, **kw)[1][::-1], I2)  # order-free
        np.testing.assert_array_equal(sharded.search(xq, 20, nprobe=8)[0], D0)
    finally:
        sharded.close()


def test_exact_settings_match_brute_force_and_fewer_results_than_k(l2_pair):
    xb, xq, single, sharded = l2_pair
    D0, I0 = brute_force(xb, xq, 10, "l2")
    D, I = sharded.search(xq, 10, nprobe=NLIST)
    np.testing.assert_array_equal(I, I0)
    np.testing.assert_allclose(D, D0, rtol=1e-4, atol=1e-4)
    # nprobe=1 and a k larger than some lists: rows with fewer than k hits are padded like one index's
    D1, I1 = single.search(xq, 250, nprobe=1)
    D2, I2 = sharded.search(xq, 250, nprobe=1)
    np.testing.assert_array_equal(I2, I1)
    assert (I1 == -1).any()
    assert np.isinf(D2[I2 == -1]).all()


def test_updates_and_removals_match_one_index(ray_session):
    xb, xq = _data(n=2000)
    ids = np.arange(0, 6000, 3, dtype=np.int64)
    single, sharded = _pair("cosine", xb=xb, ids=ids)
    try:
        for kw in SETTINGS:
            np.testing.assert_array_equal(sharded.search(xq, 10, **kw)[1], single.search(xq, 10, **kw)[1])
        gone = ids[::5]
        assert sharded.remove_ids(gone) == single.remove_ids(gone) == len(gone)
        newx = xq[:10] + 0.01
        assert sharded.update(newx, ids[1:11]) == single.update(newx, ids[1:11])
        single.add(xq[10:20])  # default ids continue after the largest id, in both
        sharded.add(xq[10:20])
        assert sharded.ntotal == single.ntotal
        for kw in SETTINGS:
            np.testing.assert_array_equal(sharded.search(xq, 10, **kw)[1], single.search(xq, 10, **kw)[1])
    finally:
        sharded.close()


# ----------------------------------------------------------------------------- building in the actors
def test_add_refs_builds_from_the_object_store(ray_session, tmp_path):
    ray = ray_session
    xb, xq = _data(n=2400)
    files = []
    for i in range(3):
        files.append(str(tmp_path / f"block{i}.npy"))
        np.save(files[i], xb[i * 800:(i + 1) * 800])
    load = ray.remote(np.load)  # blocks read by tasks: the driver holds only their refs

    single = adanns.IVFIndex(DIM, NLIST, COARSE, "l2")
    single.train(xb)
    single.add(xb)
    sharded = adanns.ShardedIndex(adanns.IVFIndex, shards=2, dim=DIM, nlist=NLIST, coarse_dim=COARSE)
    try:
        sharded.train(xb)
        sharded.add_refs([load.remote(f) for f in files])
        assert sharded.ntotal == 2400
        for kw in SETTINGS:
            np.testing.assert_array_equal(sharded.search(xq, 10, **kw)[1], single.search(xq, 10, **kw)[1])
        # explicit ids as refs
        sharded.add_refs([ray.put(xq[:5])], [ray.put(np.arange(10_000, 10_005))])
        assert sharded.search(xq[:5], 1, nprobe=NLIST)[1][:, 0].tolist() == list(range(10_000, 10_005))
        # a bad block anywhere: nothing is added to any shard
        bad = xq[:7].copy()
        bad[3, 2] = np.nan
        before = sharded.ntotal
        with pytest.raises(ValueError, match="NaN"):
            sharded.add_refs([ray.put(xq[:7]), ray.put(bad)])
        with pytest.raises(ValueError, match="dimensions"):
            sharded.add_refs([ray.put(np.zeros((3, DIM + 1), np.float32))])
        assert sharded.ntotal == before
    finally:
        sharded.close()


def test_add_dataset(ray_session):
    ray = ray_session
    pd = pytest.importorskip("pandas")
    xb, xq = _data(n=1500)
    ids = np.arange(1500, dtype=np.int64) * 7
    single = adanns.IVFIndex(DIM, NLIST, COARSE, "ip")
    single.train(xb)
    single.add(xb, ids=ids)
    ds = ray.data.from_pandas(pd.DataFrame({"id": ids, "vector": list(xb)})).repartition(3)
    sharded = adanns.ShardedIndex(adanns.IVFIndex, shards=2, dim=DIM, nlist=NLIST, coarse_dim=COARSE, metric="ip")
    try:
        sharded.train(xb)
        sharded.add_dataset(ds, column="vector", id_column="id")
        assert sharded.ntotal == 1500
        for kw in SETTINGS:
            np.testing.assert_array_equal(sharded.search(xq, 10, **kw)[1], single.search(xq, 10, **kw)[1])
        with pytest.raises(ValueError, match="column"):
            sharded.add_dataset(ds, column="embedding")
    finally:
        sharded.close()


# ----------------------------------------------------------------------------- persistence, failures
def test_save_load_and_manifest_checks(l2_pair, tmp_path):
    xb, xq, single, sharded = l2_pair
    d = tmp_path / "idx"
    sharded.save(d)
    first = sorted(os.listdir(d))
    assert "manifest.json" in first and len(first) == 4
    sharded.save(d)  # a new generation of files; the old ones are gone after the switch
    assert len(os.listdir(d)) == 4 and not (set(first) - {"manifest.json"}) & set(os.listdir(d))
    expect = sharded.search(xq, 10, **SETTINGS[1])
    loaded = adanns.ShardedIndex.load(d)
    try:
        assert loaded.shards == 3 and loaded.ntotal == len(xb)
        assert np.array_equal(loaded.centroids(), single.centroids())
        got = loaded.search(xq, 10, **SETTINGS[1])
        np.testing.assert_array_equal(got[1], expect[1])
        np.testing.assert_array_equal(got[0], expect[0])
        loaded.add(xq[:3])  # default ids continue from the saved counter
        assert loaded.search(xq[:3], 1, nprobe=NLIST)[1][:, 0].tolist() == [3000, 3001, 3002]
    finally:
        loaded.close()

    manifest = d / "manifest.json"
    good = manifest.read_bytes()
    m = json.loads(good)
    m["body"]["next_id"] += 1  # edited without updating the checksum
    manifest.write_text(json.dumps(m))
    with pytest.raises(adanns.FormatError, match="checksum"):
        adanns.ShardedIndex.load(d)
    manifest.write_bytes(good[: len(good) // 2])
    with pytest.raises(adanns.FormatError):
        adanns.ShardedIndex.load(d)
    manifest.write_bytes(good)
    shard1 = d / m["body"]["shards"][1]["file"]
    raw = bytearray(shard1.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    shard1.write_bytes(bytes(raw))
    with pytest.raises(adanns.FormatError, match="shard 1"):
        adanns.ShardedIndex.load(d)
    shard1.unlink()
    with pytest.raises(adanns.FormatError, match="missing"):
        adanns.ShardedIndex.load(d)
    with pytest.raises(FileNotFoundError):
        adanns.ShardedIndex.load(tmp_path / "nothing-here")


def test_dead_shard_is_named_and_restarts_from_its_file(ray_session, l2_pair, tmp_path):
    ray = ray_session
    xb, xq, single, sharded = l2_pair
    sharded.save(tmp_path / "s")
    _kill_and_wait(ray, sharded.shard_actors()[1])
    with pytest.raises(adanns.ShardError, match=r"shard 1 of 3.*restart_shard\(1\)") as e:
        sharded.search(xq, 10, nprobe=3)
    assert e.value.shard == 1
    with pytest.raises(adanns.ShardError, match="shard 1"):
        sharded.add(xq[:2], ids=np.arange(50_000, 50_002))  # the other shards may take their part
    sharded.restart_shard(1)
    sharded.remove_ids(np.arange(50_000, 50_002))
    for kw in SETTINGS:
        np.testing.assert_array_equal(sharded.search(xq, 10, **kw)[1], single.search(xq, 10, **kw)[1])


def test_bad_input_and_unsaved_dead_shard(ray_session):
    ray = ray_session
    xb, xq = _data(n=500)
    with pytest.raises(TypeError, match="IVFIndex"):
        adanns.ShardedIndex(adanns.FlatIndex, shards=2, dim=DIM)
    with pytest.raises(ValueError, match="shards"):
        adanns.ShardedIndex(adanns.IVFIndex, shards=0, dim=DIM, nlist=4)
    with pytest.raises(ValueError, match="coarse_dim"):
        adanns.ShardedIndex(adanns.IVFIndex, shards=2, dim=DIM, nlist=4, coarse_dim=DIM + 1)
    sharded = adanns.ShardedIndex(adanns.IVFIndex, shards=2, dim=DIM, nlist=NLIST, coarse_dim=COARSE)
    try:
        with pytest.raises(RuntimeError, match="train"):
            sharded.search(xq, 5)
        with pytest.raises(RuntimeError, match="train"):
            sharded.add(xb)
        with pytest.raises(ValueError, match="at least nlist"):
            sharded.train(xb[:5])
        sharded.train(xb)
        with pytest.raises(ValueError, match="dimensions"):
            sharded.add(xb[:, :5])
        with pytest.raises(TypeError, match="floating"):
            sharded.add(xb.astype(np.int32))
        with pytest.raises(ValueError, match=">= 0"):
            sharded.add(xb[:2], ids=[-1, 3])
        nan = xb[:4].copy()
        nan[1, 1] = np.inf
        with pytest.raises(ValueError, match="NaN"):
            sharded.add(nan)
        assert sharded.ntotal == 0
        sharded.add(xb)
        sharded.add(xb[:1], ids=[2**63 - 2])  # the largest id; default ids after it would overflow
        with pytest.raises(ValueError, match="overflow"):
            sharded.add(xb[:1])
        with pytest.raises(ValueError, match="overflow"):
            sharded.add_refs([ray.put(xb[:1])])
        sharded.remove_ids([2**63 - 2])
        with pytest.raises(ValueError, match="larger than the number"):
            sharded.search(xq, 501)
        with pytest.raises(ValueError, match="nprobe"):
            sharded.search(xq, 5, nprobe=NLIST + 1)
        with pytest.raises(ValueError, match="scan_dim"):
            sharded.search(xq, 5, scan_dim=DIM + 1)
        with pytest.raises(ValueError, match="probe_dim"):
            sharded.search(xq, 5, probe_dim=COARSE + 1)
        with pytest.raises(ValueError, match="NaN"):
            sharded.search(np.full((2, DIM), np.nan, np.float32), 5)
        with pytest.raises(ValueError, match="2-D"):
            sharded.search(xq[0], 5)
        with pytest.raises(TypeError, match="integer"):
            sharded.search(xq, 5.0)
        with pytest.raises(ValueError, match="unique"):
            sharded.update(xb[:2], [1, 1])
        with pytest.raises(RuntimeError, match="already trained"):
            sharded.train(xb)
        assert sharded.search(xq[:0], 5)[1].shape == (0, 5)
        _kill_and_wait(ray, sharded.shard_actors()[0])  # never saved: nothing to restart it from
        with pytest.raises(adanns.ShardError, match="shard 0 of 2.*never saved") as e:
            sharded.search(xq, 10, nprobe=3)
        assert e.value.shard == 0
        with pytest.raises(RuntimeError, match="never saved"):
            sharded.restart_shard(0)
    finally:
        sharded.close()


@pytest.mark.parametrize("form", ["ids", "idfilter", "mask"])
@pytest.mark.parametrize("fraction", [0.1, 0.01])
def test_filtered_search_equals_one_index_and_brute_force(l2_pair, form, fraction):
    """filter= reaches every shard: at exact settings the exact top-k of the allowed subset; at
    approximate settings (nprobe widened once, by the driver) one index's filtered result."""
    xb, xq, single, sharded = l2_pair
    rng = np.random.default_rng(3)
    allowed = np.sort(rng.choice(len(xb), max(1, int(fraction * len(xb))), replace=False))
    if form == "ids":
        f = allowed
    elif form == "idfilter":
        f = adanns.IDFilter.from_ids(allowed)
    else:
        f = np.zeros(len(xb), bool)
        f[allowed] = True
    D, I = sharded.search(xq, 10, nprobe=NLIST, filter=f)
    Dr, Ir = brute_force(xb[allowed], xq, 10, "l2")
    np.testing.assert_array_equal(I, allowed[Ir])
    np.testing.assert_allclose(D, Dr, rtol=1e-4, atol=1e-4)
    for kw in SETTINGS:
        D1, I1 = single.search(xq, 10, filter=f, **kw)
        D2, I2 = sharded.search(xq, 10, filter=f, **kw)
        np.testing.assert_array_equal(I2, I1, err_msg=str(kw))
        np.testing.assert_allclose(D2, D1, rtol=1e-5, atol=1e-5, err_msg=str(kw))
        assert np.isin(I2[I2 >= 0], allowed).all()
    # a filter that allows fewer than k ids: those, then -1 padding
    few = allowed[:3]
    _, I = sharded.search(xq, 10, nprobe=NLIST, filter=few)
    assert (np.sort(I[:, :3], axis=1) == few).all() and (I[:, 3:] == -1).all()


def test_int8_scan_store_reaches_the_shards(ray_session):
    """IVFIndex keywords reach every shard: with scan_store="int8" each shard re-scores its
    results exactly on all dims (rerank_k raised to k), so a 8-dim scan returns the full-dim
    scores, where the float rows would return the prefix's; at exact settings it is brute force."""
    from reference import out_scores

    xb, xq = _data(n=800, nq=10)
    sharded = adanns.ShardedIndex(adanns.IVFIndex, shards=2, dim=DIM, nlist=NLIST, coarse_dim=COARSE,
                                  metric="ip", scan_store="int8")
    try:
        sharded.train(xb)
        sharded.add(xb)
        D, I = sharded.search(xq, 5, nprobe=NLIST, scan_dim=8)
        full = out_scores(xb, xq, "ip", DIM)
        np.testing.assert_allclose(D, np.take_along_axis(full, I, 1), rtol=0, atol=1e-4 * np.abs(full).max())
        D, I = sharded.search(xq, 5, nprobe=NLIST, scan_dim=8, rerank_k=len(xb))
        Dr, _ = brute_force(xb, xq, 5, "ip")
        np.testing.assert_allclose(D, Dr, rtol=0, atol=1e-4 * np.abs(Dr).max())
    finally:
        sharded.close()
