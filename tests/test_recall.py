"""Recall floors at approximate settings on the seeded synthetic Matryoshka set."""

import pytest

import adanns
from adanns.datasets import make_synthetic
from adanns.evaluation import ground_truth, recall_at_k


@pytest.fixture(scope="module")
def setup():
    ds = make_synthetic(30_000, 300, 96, seed=11)
    gt = ground_truth(ds.xb, ds.xq, 10, "l2")
    return ds, gt


def build(ds, coarse_dim, metric="l2"):
    index = adanns.IVFIndex(ds.dim, 128, coarse_dim=coarse_dim, metric=metric, seed=7)
    index.train(ds.xb)
    index.add(ds.xb)
    return index


def test_rigid_ivf_recall(setup):
    ds, gt = setup
    index = build(ds, ds.dim)
    rec = {p: recall_at_k(index.search(ds.xq, 10, nprobe=p)[1], gt, 10) for p in (4, 16, 64)}
    assert rec[4] < rec[16] < rec[64]
    assert rec[16] >= 0.85, rec
    assert rec[64] >= 0.97, rec


def test_adaptive_ivf_recall(setup):
    """Clustering on 24 dims, scan on 32, rerank on all 96: still accurate."""
    ds, gt = setup
    index = build(ds, 24)
    _, I = index.search(ds.xq, 10, nprobe=16, scan_dim=32, rerank_k=100)
    r = recall_at_k(I, gt, 10)
    assert r >= 0.85, r
    # without the rerank the 32-dim scan alone is clearly worse
    _, I0 = index.search(ds.xq, 10, nprobe=16, scan_dim=32)
    assert recall_at_k(I0, gt, 10) < r


def test_cosine_recall(setup):
    ds, _ = setup
    gt = ground_truth(ds.xb, ds.xq, 10, "cosine")
    index = build(ds, 32, metric="cosine")
    _, I = index.search(ds.xq, 10, nprobe=16, scan_dim=48, rerank_k=100)
    assert recall_at_k(I, gt, 10) >= 0.85


def test_recall_matches_faiss_ivfflat_when_available(setup):
    faiss = pytest.importorskip("faiss")
    ds, gt = setup
    index = build(ds, ds.dim)
    q = faiss.IndexFlatL2(ds.dim)
    f = faiss.IndexIVFFlat(q, ds.dim, 128)
    f.cp.seed = 7
    f.train(ds.xb)
    f.add(ds.xb)
    for p in (8, 32):
        f.nprobe = p
        rf = recall_at_k(f.search(ds.xq, 10)[1], gt, 10)
        ra = recall_at_k(index.search(ds.xq, 10, nprobe=p)[1], gt, 10)
        assert abs(rf - ra) < 0.03, (p, rf, ra)
