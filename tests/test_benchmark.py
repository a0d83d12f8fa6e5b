"""adanns bench: metrics, Pareto/summary logic, ground-truth cache, and a tiny end-to-end run."""

import json

import numpy as np
import pytest

import argparse

from adanns import bench as B
from adanns.evaluation import ground_truth, recall_at_k


def test_recall_matches_reference():
    rng = np.random.default_rng(0)
    gt = np.stack([rng.permutation(50)[:20] for _ in range(30)])
    ids = np.stack([rng.permutation(50)[:20] for _ in range(30)])
    ids[0, :3] = -1
    for k in (1, 10, 20):
        assert B.recall(ids, gt, k) == pytest.approx(recall_at_k(ids, gt, k))
    assert B.recall(gt, gt, 10) == 1.0


def test_pareto_front():
    pts = [(0.5, 100.0), (0.6, 50.0), (0.55, 40.0), (0.9, 10.0), (0.9, 12.0), (0.7, 60.0)]
    front = B.pareto_front(pts)
    assert [pts[i] for i in front] == [(0.5, 100.0), (0.7, 60.0), (0.9, 12.0)]
    assert B.pareto_front([]) == []


def _m(fam, r10, qps):
    return B.Measurement(fam, {}, r10, r10, None, qps, 1.0, None, None, None)


def test_summary_ratios_and_skipped():
    reps = [
        B.MethodReport("adanns-ivf[c=8]", "adanns-ivf", "adanns", "ok", results=[_m("adanns-ivf", 0.92, 300), _m("adanns-ivf", 0.96, 200), _m("adanns-ivf-rigid", 0.96, 150)]),
        B.MethodReport("peer", "peer", "x", "ok", results=[_m("peer", 0.91, 100), _m("peer", 0.94, 80)]),
        B.MethodReport("gone", "gone", "y", "skipped", reason="cannot import gone"),
    ]
    rows = {(r["target_recall_at_10"], r["method"]): r for r in B.summarize(reps)}
    assert rows[(0.90, "peer")]["ratio"] == pytest.approx(3.0)
    assert rows[(0.95, "peer")]["ratio"] is None and rows[(0.95, "peer")]["method_qps"] is None
    assert rows[(0.90, "adanns-ivf-rigid")]["ratio"] == pytest.approx(2.0)
    assert rows[(0.95, "adanns-ivf-rigid")]["ratio"] == pytest.approx(200 / 150)
    assert rows[(0.90, "gone")]["status"] == "skipped: cannot import gone"


def test_ground_truth_cache(tmp_path):
    rng = np.random.default_rng(1)
    xb = rng.standard_normal((500, 8)).astype(np.float32)
    xq = rng.standard_normal((20, 8)).astype(np.float32)
    gt, info = B.cached_ground_truth(xb, xq, "l2", 10, str(tmp_path))
    assert not info["cached"]
    np.testing.assert_array_equal(gt, ground_truth(xb, xq, 10, "l2"))
    gt2, info2 = B.cached_ground_truth(xb, xq, "l2", 10, str(tmp_path))
    assert info2["cached"] and info2["hash"] == info["hash"]
    np.testing.assert_array_equal(gt, gt2)
    h = B.content_hash(xb, xq, "l2", 10)
    assert h != B.content_hash(xb, xq, "ip", 10) != B.content_hash(xb, xq, "l2", 100)
    xb2 = xb.copy()
    xb2[3, 2] += 1.0
    assert B.content_hash(xb2, xq, "l2", 10) != h


class _Broken(B.Method):
    family = "broken"
    library = "none"

    def build(self):
        raise RuntimeError("boom")


class _Missing(B.Method):
    family = "missing"
    requires = ("a_module_that_does_not_exist_xyz",)


def test_failures_are_reported_as_skipped(tmp_path):
    rng = np.random.default_rng(2)
    xb = rng.standard_normal((200, 8)).astype(np.float32)
    ctx = B.Context(xb, xb[:5], np.zeros((5, 10), np.int64), "l2", B.SweepConfig(nlist=4))
    rep = B.run_method(_Broken(ctx), ctx, str(tmp_path))
    assert rep.status == "skipped" and rep.reason == "failed: RuntimeError: boom"
    rep = B.run_method(_Missing(ctx), ctx, str(tmp_path))
    assert rep.status == "skipped" and "cannot import a_module_that_does_not_exist_xyz" in rep.reason


def test_end_to_end_tiny(tmp_path, capsys):
    from adanns.cli import main

    out = tmp_path / "r.json"
    argv = [
        "bench", "--dataset", "synthetic:3000:16", "--n-query", "100", "--quick",
        "--methods", "adanns-ivf,faiss-ivfflat,faiss-ivf-prefixquant,hnswlib",
        "--nprobes", "1,4,16", "--efs", "16,64", "--n-single", "5", "--nlist", "32",
        "--cache-dir", str(tmp_path / "cache"), "--out", str(out), "--no-plot",
    ]
    assert main(argv) == 0
    rep = json.loads(out.read_text())
    assert rep["schema_version"] == B.SCHEMA_VERSION
    assert rep["dataset"]["n_base"] == 3000 and rep["dataset"]["dim"] == 16 and not rep["dataset"]["pca"]
    assert rep["config"]["coarse_dims"] == [8, 16] and rep["config"]["quick"]
    fams = {m["family"] for m in rep["methods"]}
    assert {"adanns-ivf", "faiss-ivfflat", "faiss-ivf-prefixquant", "hnswlib"} <= fams
    for m in rep["methods"]:
        assert m["status"] in ("ok", "skipped")
        if m["status"] == "skipped":
            assert m["reason"]
            continue
        assert m["build_seconds"] >= 0 and m["results"]
        for r in m["results"]:
            assert 0 <= r["recall_at_1"] <= 1 and 0 <= r["recall_at_10"] <= 1 and r["qps"] > 0
            assert r["recall_at_100"] is not None and r["latency_p50_ms"] <= r["latency_p99_ms"]
    ada = [r for m in rep["methods"] if m["family"] == "adanns-ivf" for r in m["results"]]
    assert {r["family"] for r in ada} == {"adanns-ivf", "adanns-ivf-rigid"}
    assert all(r["madds_per_query"] > 0 for r in ada)
    assert max(r["recall_at_10"] for r in ada) > 0.9
    assert "adanns-ivf" in rep["pareto"] and len(rep["summary"]) == 2 * (len(rep["pareto"]) - 1 + sum(
        1 for m in rep["methods"] if m["status"] != "ok"))
    text = capsys.readouterr().out
    assert "recall@10" in text and "adanns-ivf" in text
    md = B.render_markdown(rep, None)
    assert "| vs method |" in md and "faiss-ivfflat" in md


def test_glove_pca_path_and_plot(tmp_path, monkeypatch):
    """The PCA branch of data preparation, on a small .npy file (cosine), and the PNG."""
    pytest.importorskip("matplotlib")
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((2500, 12)) * np.linspace(0.3, 2.0, 12)).astype(np.float32)
    np.save(tmp_path / "v.npy", x)
    out = tmp_path / "v.json"
    args = argparse.Namespace(
        dataset=str(tmp_path / "v.npy"), queries=None, metric="cosine", n_query=50, max_base=None, pca="auto",
        methods="adanns-ivf", skip=None, nlist=16, nprobes="1,4", coarse_dims="6,12", scan_dims="6", rerank_ks="20",
        efs=None, stop_recall=0.995, n_single=3, threads=None, seed=0, cache_dir=str(tmp_path / "c"),
        out=str(out), plot=None, markdown=str(tmp_path / "v.md"), no_plot=False, quick=True,
    )
    assert B.run(args) == 0
    rep = json.loads(out.read_text())
    assert rep["dataset"]["pca"] and not rep["dataset"]["pca_center"] and rep["dataset"]["metric"] == "cosine"
    assert (tmp_path / "v.png").stat().st_size > 1000 and rep["plot"].endswith("v.png")
    assert "v.npy" in (tmp_path / "v.md").read_text()
