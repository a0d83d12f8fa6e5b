"""Compute-aware search: probe_dim, tune, operating points, target_recall / budget."""

import numpy as np
import pytest

import adanns
from adanns.datasets import make_synthetic
from adanns.evaluation import ground_truth, recall_at_k
from reference import built_ivf, prefix_scores


@pytest.fixture(scope="module")
def tuned():
    ds = make_synthetic(20_000, 600, 64, seed=4)
    index = built_ivf(ds.xb, 64, 64, coarse_dim=32, seed=1)
    space = {"nprobe": [1, 2, 4, 8, 16, 64], "scan_dim": [8, 16, 64], "rerank_k": [0, 20, 50]}
    ops = index.tune(ds.xq[:300], 10, space=space, seed=3, measure_qps=False)
    return ds, index, ops, space


def test_probe_dim_chooses_lists_on_the_centroid_prefix():
    rng = np.random.default_rng(0)
    xb = rng.standard_normal((2000, 24)).astype(np.float32)
    for metric in ("l2", "ip", "cosine"):
        index = adanns.IVFIndex(24, 16, coarse_dim=16, metric=metric)
        index.train(xb)
        index.add(xb)
        xq = xb[:50]
        probes = index._core.probe(xq, 3, 6)
        c = index.centroids()[:, :6]
        ref = prefix_scores(c, xq, "l2" if metric == "l2" else metric, 6)
        if metric == "l2":
            ref = ref - (xq[:, :6].astype(np.float64) ** 2).sum(1)[:, None]
        expect = np.argsort(ref, axis=1, kind="stable")[:, :3]
        got_d = np.take_along_axis(ref, probes, 1)
        exp_d = np.take_along_axis(ref, expect, 1)
        np.testing.assert_allclose(got_d, exp_d, atol=1e-4)
        # with every list probed, the probe prefix cannot change the (exact) result
        a = index.search(xq, 5, nprobe=16, probe_dim=2)
        b = index.search(xq, 5, nprobe=16)
        np.testing.assert_array_equal(a[1], b[1])
    with pytest.raises(ValueError, match="probe_dim"):
        index.search(xq, 5, probe_dim=17)


def test_front_is_pareto_and_deterministic(tuned):
    ds, index, ops, space = tuned
    pts = ops.points
    assert len(pts) >= 3 and ops.k == 10
    costs = [p.cost for p in pts]
    recalls = [p.recall for p in pts]
    assert costs == sorted(costs)
    assert all(b > a for a, b in zip(recalls, recalls[1:])), "front must strictly improve recall with cost"
    again = index.tune(ds.xq[:300], 10, space=space, seed=3, measure_qps=False)
    assert [p.settings() for p in again.points] == [p.settings() for p in pts]
    assert [p.recall for p in again.points] == recalls
    index._operating_points = ops


def test_recall_of_points_is_real(tuned):
    ds, index, ops, _ = tuned
    gt = ground_truth(ds.xb, ds.xq[:300], 10, "l2")
    for p in ops.points[:: max(1, len(ops.points) // 4)]:
        _, I = index.search(ds.xq[:300], 10, **p.settings())
        assert abs(recall_at_k(I, gt, 10) - p.recall) < 1e-9


def test_target_recall_and_budget(tuned):
    ds, index, ops, _ = tuned
    index._operating_points = ops
    p = index.operating_point(target_recall=0.9)
    assert p.recall >= 0.9
    assert all(q.cost >= p.cost for q in ops.points if q.recall >= 0.9)
    held = ds.xq[300:]
    gt = ground_truth(ds.xb, held, 10, "l2")
    _, I = index.search(held, 10, target_recall=0.9)
    assert recall_at_k(I, gt, 10) >= 0.87
    b = index.operating_point(budget=p.cost * 1.01)
    assert b.cost <= p.cost * 1.01 and b.recall >= p.recall
    D1, I1 = index.search(held[:20], 10, budget=p.cost * 1.01)
    D2, I2 = index.search(held[:20], 10, **b.settings())
    np.testing.assert_array_equal(I1, I2)


def test_invalid_targets(tuned):
    ds, index, ops, _ = tuned
    index._operating_points = ops
    best = max(p.recall for p in ops.points)
    if best < 1.0:
        with pytest.raises(ValueError, match="no tuned setting reaches"):
            index.search(ds.xq[:2], 10, target_recall=min(1.0, best + 1e-6))
    with pytest.raises(ValueError, match="budget"):
        index.search(ds.xq[:2], 10, budget=1.0)
    with pytest.raises(ValueError, match="target_recall"):
        index.search(ds.xq[:2], 10, target_recall=1.5)
    with pytest.raises(ValueError, match="do not also pass"):
        index.search(ds.xq[:2], 10, target_recall=0.9, nprobe=4)
    with pytest.raises(ValueError, match="exactly one"):
        index.operating_point(target_recall=0.9, budget=1e6)
    fresh = adanns.IVFIndex(64, 4)
    fresh.train(ds.xb[:1000])
    fresh.add(ds.xb[:1000])
    with pytest.raises(RuntimeError, match="tune"):
        fresh.search(ds.xq[:2], 10, target_recall=0.9)
    with pytest.raises(ValueError, match="unknown setting"):
        fresh.tune(ds.xq[:10], 5, space={"bogus": [1]})


def test_operating_points_persist(tuned, tmp_path):
    ds, index, ops, _ = tuned
    index._operating_points = ops
    index.save(tmp_path / "t.adanns")
    loaded = adanns.load(tmp_path / "t.adanns")
    assert loaded.operating_points.to_dict() == ops.to_dict()
    np.testing.assert_array_equal(
        loaded.search(ds.xq[:50], 10, target_recall=0.9)[1], index.search(ds.xq[:50], 10, target_recall=0.9)[1]
    )


def test_corrupt_operating_points_rejected(tuned, tmp_path):
    import json

    from adanns import io as aio

    ds, index, ops, _ = tuned
    index._operating_points = ops
    path = tmp_path / "c.adanns"
    index.save(path)
    raw = bytearray(path.read_bytes())
    _, ver, hlen, _, _ = aio._PREFIX.unpack_from(raw, 0)
    header = json.loads(bytes(raw[aio._PREFIX.size : aio._PREFIX.size + hlen]))
    header["operating_points"]["points"][0]["nprobe"] = 10**6
    hb = json.dumps(header).encode()
    assert len(hb) <= hlen + 64
    new = aio._PREFIX.pack(aio.MAGIC, ver, len(hb), aio._crc(hb), 0) + hb
    new = new + bytes(raw[len(new) :])
    path.write_bytes(new)
    with pytest.raises(adanns.FormatError, match="operating point"):
        adanns.load(path)


def test_cli_tune(tuned, tmp_path):
    ds, index, _, _ = tuned
    index.save(tmp_path / "i.adanns")
    np.save(tmp_path / "q.npy", ds.xq[:100])
    from adanns import cli

    rc = cli.main(["tune", str(tmp_path / "i.adanns"), str(tmp_path / "q.npy"), "--k", "5",
                   "--save", str(tmp_path / "o.adanns")])
    assert rc == 0
    assert adanns.load(tmp_path / "o.adanns").operating_points.k == 5


# --------------------------------------------------------------------- one vocabulary, every index
@pytest.fixture(scope="module")
def pq_tuned():
    ds = make_synthetic(6_000, 300, 32, seed=5)
    index = adanns.IVFPQIndex(32, 32, coarse_dim=16, pq_dim=32, m=8, keep_full="ram", seed=1)
    index.train(ds.xb)
    index.add(ds.xb)
    space = {"nprobe": [1, 2, 4, 8, 16, 32], "rerank_k": [0, 20, 50, 100]}
    ops = index.tune(ds.xq[:200], 10, space=space, seed=1, measure_qps=False)
    return ds, index, ops


def test_ivfpq_tune_and_target_recall(pq_tuned):
    ds, index, ops = pq_tuned
    gt = ground_truth(ds.xb, ds.xq, 10, "l2")
    # the tuner's ground truth is exact (every list, every code reranked on the full vectors)
    np.testing.assert_array_equal(index._exact_ground_truth(ds.xq[:200], 10), gt[:200])
    assert len(ops.points) >= 3
    assert all(p.scan_dim == 32 and p.probe_dim == 16 and p.rerank_dim == 32 for p in ops.points)
    point = index.operating_point(target_recall=0.9)
    assert point.recall >= 0.9
    _, I = index.search(ds.xq[:200], 10, target_recall=0.9)
    assert recall_at_k(I, gt[:200], 10) == pytest.approx(point.recall, abs=1e-9)
    _, I2 = index.search(ds.xq[:200], 10, **point.settings())
    np.testing.assert_array_equal(I, I2)
    # held-out queries stay close to the sample's recall
    _, Ih = index.search(ds.xq[200:], 10, target_recall=0.9)
    assert recall_at_k(Ih, gt[200:], 10) >= 0.85
    cheap = min(ops.points, key=lambda p: p.cost)
    assert index.operating_point(budget=cheap.cost * 1.0001) == cheap
    # the front survives save / load
    loaded = adanns.load(_save(index))
    assert [p.settings() for p in loaded.operating_points.points] == [p.settings() for p in ops.points]


def _save(index):
    import tempfile

    path = tempfile.mkdtemp() + "/pq.adanns"
    index.save(path)
    return path


def test_pq_rejects_settings_its_structure_fixes(pq_tuned):
    ds, index, _ = pq_tuned
    with pytest.raises(ValueError, match="fixed scan_dim=32"):
        index.search(ds.xq[:2], 5, scan_dim=16)
    with pytest.raises(ValueError, match="fixed probe_dim=16"):
        index.search(ds.xq[:2], 5, probe_dim=8)
    # the fixed values themselves are accepted (one vocabulary across index types)
    a = index.search(ds.xq[:5], 5, nprobe=4, scan_dim=32, probe_dim=16, rerank_dim=32)
    b = index.search(ds.xq[:5], 5, nprobe=4)
    np.testing.assert_array_equal(a[1], b[1])


def test_pq_without_full_vectors_tunes_with_given_gt():
    ds = make_synthetic(3_000, 100, 16, seed=6)
    index = adanns.PQIndex(16, m=8, keep_full=None)
    index.train(ds.xb)
    index.add(ds.xb)
    with pytest.raises(ValueError, match="keep_full"):
        index.tune(ds.xq, 10)
    gt = ground_truth(ds.xb, ds.xq, 10, "l2")
    ops = index.tune(ds.xq, 10, gt=gt, measure_qps=False)
    assert len(ops.points) == 1 and ops.points[0].rerank_k == 0  # nothing to vary
    _, I = index.search(ds.xq, 10, target_recall=ops.points[0].recall)
    assert recall_at_k(I, gt, 10) == pytest.approx(ops.points[0].recall)


def test_one_cost_model_for_tune_evaluation_and_bench(tuned):
    """tune's recorded cost of a point equals evaluation.search_cost on the same queries."""
    from adanns.evaluation import search_cost

    ds, index, ops, _ = tuned
    for p in ops.points[:5]:
        assert search_cost(index, ds.xq[:300], **p.settings()) == pytest.approx(p.cost, rel=1e-12)
    # without queries the model uses the mean list size: nprobe * ntotal / nlist scanned vectors
    c = search_cost(index, nprobe=4, scan_dim=16)
    assert c == pytest.approx(32 * 64 + 16 * 4 * index.ntotal / 64)


# --------------------------------------------------------------------- chosen by measured time
@pytest.fixture(scope="module")
def timed_tuned():
    ds = make_synthetic(8_000, 300, 32, seed=8)
    index = built_ivf(ds.xb, 32, 32, coarse_dim=16, seed=1)
    space = {"nprobe": [1, 2, 4, 8, 32], "scan_dim": [8, 32], "rerank_k": [0, 40]}
    ops = index.tune(ds.xq[:200], 10, space=space, seed=2, progress=False)
    return ds, index, ops


def _dominated(p, q):
    """q beats p on both recall and measured QPS."""
    return q.recall >= p.recall and q.qps >= p.qps and (q.recall > p.recall or q.qps > p.qps)


def test_measured_front_has_no_dominated_point(timed_tuned):
    _, _, ops = timed_tuned
    pts = ops.points
    assert pts and all(p.qps > 0 for p in pts)
    for p in pts:
        assert not any(_dominated(p, q) for q in pts if q is not p), p
    # sorted by recall; so QPS falls along the front
    assert [p.recall for p in pts] == sorted(p.recall for p in pts)


def test_target_recall_takes_the_fastest_measured_point():
    from adanns.tuning import OperatingPoint, OperatingPoints

    def pt(nprobe, recall, cost, qps):
        return OperatingPoint(16, nprobe, 32, 0, 32, recall, cost, qps)

    # the cheaper-by-model point is slower as measured: measured QPS decides
    ops = OperatingPoints(10, [pt(4, 0.90, 1e3, 900.0), pt(8, 0.96, 1.5e3, 500.0), pt(16, 0.97, 2e3, 800.0),
                               pt(32, 0.99, 9e3, 300.0)])
    assert ops.for_recall(0.95).nprobe == 16
    assert ops.for_recall(0.5).nprobe == 4
    assert ops.for_recall(0.98).nprobe == 32
    # without measured QPS (all 0) the cost model decides; it also breaks ties
    flat = OperatingPoints(10, [pt(8, 0.96, 5e3, 0.0), pt(16, 0.97, 2e3, 0.0)])
    assert flat.for_recall(0.95).nprobe == 16
    tie = OperatingPoints(10, [pt(8, 0.96, 5e3, 700.0), pt(16, 0.97, 2e3, 700.0)])
    assert tie.for_recall(0.95).nprobe == 16
    # the budget stays on the cost model
    assert ops.for_budget(2.5e3).nprobe == 16


def test_tune_interrupted_leaves_the_index_unchanged(timed_tuned, monkeypatch):
    """Ctrl-C during tune (a KeyboardInterrupt from a progress update) propagates, and the index
    keeps its previous operating points."""
    from contextlib import contextmanager

    from adanns import _progress

    ds, index, ops = timed_tuned
    index._operating_points = ops
    calls = []

    @contextmanager
    def bar(show, total, desc, unit="it"):
        def update(n):
            calls.append(desc)
            if len(calls) == 3:
                raise KeyboardInterrupt
        yield update

    monkeypatch.setattr(_progress, "bar", bar)
    with pytest.raises(KeyboardInterrupt):
        index.tune(ds.xq[:100], 10, space={"nprobe": [1, 2, 4], "rerank_k": [0]}, progress=False)
    assert len(calls) == 3
    assert index.operating_points is ops
    _, I = index.search(ds.xq[:5], 10, target_recall=ops.points[-1].recall)
    assert I.shape == (5, 10)


def test_tune_progress_names_its_stages(timed_tuned, capsys):
    pytest.importorskip("tqdm")
    ds, index, ops = timed_tuned
    index.tune(ds.xq[:50], 10, space={"nprobe": [1, 4], "scan_dim": [32], "rerank_k": [0]}, progress=True)
    err = capsys.readouterr().err
    assert "adanns tune: explore" in err and "adanns tune: time" in err
    index.tune(ds.xq[:50], 10, space={"nprobe": [1, 4], "scan_dim": [32], "rerank_k": [0]}, progress=False)
    assert capsys.readouterr().err == ""
    index._operating_points = ops


def test_search_signatures_list_the_shared_keywords():
    """Every search declares the shared keywords once (adanns.params.search_keywords): its
    signature shows them after k, keyword-only with default None, then the method's own; an
    unknown keyword is a TypeError that names it, as for any Python function."""
    import inspect

    from adanns.gpu import GpuIVFIndex
    from adanns.params import SEARCH_KEYWORDS
    from adanns.sharded import ShardedIndex

    tuned_own = ["target_recall", "budget", "stats", "filter"]
    for cls, own in [(adanns.IVFIndex, tuned_own), (adanns.FlatIndex, tuned_own), (adanns.PQIndex, tuned_own),
                     (adanns.IVFPQIndex, tuned_own), (GpuIVFIndex, []),
                     (ShardedIndex, ["exact_rerank", "return_timings", "filter"])]:
        params = inspect.signature(cls.search).parameters
        assert list(params) == ["self", "xq", "k", *SEARCH_KEYWORDS, *own], cls
        for name in SEARCH_KEYWORDS:
            assert params[name].kind is inspect.Parameter.KEYWORD_ONLY and params[name].default is None
    xb = np.random.default_rng(0).standard_normal((50, 8)).astype(np.float32)
    index = adanns.FlatIndex(8)
    index.add(xb)
    assert np.array_equal(index.search(xb[:3], 2, rerank_k=None)[1], index.search(xb[:3], 2)[1])
    with pytest.raises(TypeError, match="'nprob'"):
        index.search(xb[:3], 2, nprob=1)
