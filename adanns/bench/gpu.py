"""``adanns bench --gpu``: the GPU index against exact GPU search and faiss-gpu, on one GPU.

Data: a seeded synthetic Matryoshka set (``--dataset synthetic:N:D``, default 1M x 768 with
``--n-query`` 10k queries; ``--quick``: 100k x 768, 2k queries). Baselines:

* exact search as a GEMM + top-k on the GPU (PyTorch), which is also the ground truth;
* faiss-gpu ``GpuIndexIVFFlat`` with the same nlist, when a GPU build of faiss is importable.

For each AdANNS setting the report gives recall@10, QPS (best of ``--repeat``), and the bytes
the list scan reads (padded rows x scanned chunks of the probed lists) divided by the whole
search time: a lower bound on the scan kernel's bandwidth, next to the device-to-device copy
bandwidth measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from .._measure import timed
from ..datasets import synthetic_matryoshka
from ..evaluation import recall_at_k
from ..gpu import GpuUnavailableError, is_available, to_gpu
from ..index import IVFIndex


def _log(msg: str) -> None:
    print(msg, flush=True)


def _torch() -> Any:
    try:
        import torch  # noqa: PLC0415
    except ImportError:
        raise RuntimeError("adanns bench --gpu needs PyTorch (exact GPU search baseline and ground truth)") from None
    if not torch.cuda.is_available():
        raise RuntimeError("adanns bench --gpu: PyTorch sees no CUDA GPU")
    return torch


def exact_gpu(xb_t: Any, xq: np.ndarray, k: int, metric: str, batch: int = 1024) -> Tuple[np.ndarray, float]:
    """Exact top-k ids by a GEMM + top-k per query batch on the GPU; returns (ids, seconds)."""
    torch = _torch()
    norms = (xb_t * xb_t).sum(1) if metric == "l2" else None
    out = np.empty((xq.shape[0], k), np.int64)
    torch.cuda.synchronize()
    t = time.perf_counter()
    for b in range(0, xq.shape[0], batch):
        q = torch.from_numpy(xq[b : b + batch]).cuda()
        if metric == "cosine":
            q = q / q.norm(dim=1, keepdim=True).clamp_min(1e-30)
        s = q @ xb_t.T
        if metric == "l2":
            s = norms[None, :] - 2 * s  # ||q||^2 does not change the ranking
            idx = torch.topk(s, k, dim=1, largest=False).indices
        else:
            idx = torch.topk(s, k, dim=1, largest=True).indices
        out[b : b + batch] = idx.cpu().numpy()
    torch.cuda.synchronize()
    return out, time.perf_counter() - t


def copy_bandwidth(nbytes: int = 2 << 30) -> float:
    """Device-to-device copy bandwidth in bytes/s (read + write counted), best of 5."""
    torch = _torch()
    a = torch.empty(nbytes // 4, dtype=torch.float32, device="cuda")
    b = torch.empty_like(a)
    best = float("inf")
    for _ in range(5):
        torch.cuda.synchronize()
        t = time.perf_counter()
        b.copy_(a)
        torch.cuda.synchronize()
        best = min(best, time.perf_counter() - t)
    return 2 * nbytes / best


def scan_bytes(index: IVFIndex, xq: np.ndarray, nprobe: int, scan_dim: int) -> int:
    """Bytes the GPU scan reads: for every probed list, its rows padded to 32 times the scanned chunks."""
    probes = index._core.probe(xq, nprobe, 0)
    padded = (index.list_sizes() + 31) // 32 * 32
    return int(padded[probes].sum()) * ((scan_dim + 3) // 4) * 16


def _faiss_gpu(xb: np.ndarray, xq: np.ndarray, gt: np.ndarray, nlist: int, metric: str, nprobes: List[int],
               repeat: int) -> Dict[str, Any]:
    try:
        import faiss  # noqa: PLC0415

        res = faiss.StandardGpuResources()
    except (ImportError, AttributeError) as e:
        return {"status": "skipped", "reason": f"no GPU build of faiss importable ({type(e).__name__}: {e})"}
    d = xb.shape[1]
    if metric == "cosine":
        xb = xb / np.maximum(np.linalg.norm(xb, axis=1, keepdims=True), 1e-30)
        xq = xq / np.maximum(np.linalg.norm(xq, axis=1, keepdims=True), 1e-30)
    fm = faiss.METRIC_L2 if metric == "l2" else faiss.METRIC_INNER_PRODUCT
    index = faiss.GpuIndexIVFFlat(res, d, nlist, fm)
    t = time.perf_counter()
    index.train(np.ascontiguousarray(xb, np.float32))
    index.add(np.ascontiguousarray(xb, np.float32))
    rows = []
    for nprobe in nprobes:
        index.nprobe = nprobe
        (_, ids), sec = timed(lambda: index.search(xq, 10), repeat)
        rows.append({"nprobe": nprobe, "recall@10": recall_at_k(ids, gt, 10), "qps": xq.shape[0] / sec})
        _log(f"  faiss-gpu IVFFlat nprobe={nprobe}: recall@10 {rows[-1]['recall@10']:.4f}  QPS {rows[-1]['qps']:,.0f}")
    return {"status": "ok", "build_seconds": time.perf_counter() - t, "points": rows}


def run_gpu(args: argparse.Namespace) -> int:
    """The GPU benchmark; prints a table and writes JSON (``--out``, default bench_results/gpu.json)."""


    try:
        if not is_available():
            raise GpuUnavailableError("no CUDA build of adanns or no visible GPU (docs/gpu.md)")
        torch = _torch()
    except RuntimeError as e:
        print(f"adanns bench --gpu: {e}", flush=True)
        return 2
    quick = bool(getattr(args, "quick", False))
    n, d = (100_000, 768) if quick else (1_000_000, 768)
    ds = getattr(args, "dataset", None) or ""
    if ds.startswith("synthetic:"):
        parts = ds.split(":")
        n, d = int(parts[1]), int(parts[2])
    nq = getattr(args, "n_query", None) or (2_000 if quick else 10_000)
    metric = getattr(args, "metric", None) or "cosine"
    repeat = getattr(args, "repeat", None) or 3
    nlist = getattr(args, "nlist", None) or int(4 * np.sqrt(n))
    coarse_dim = min(d, 64)
    seed = getattr(args, "seed", 0) or 0
    _log(f"GPU benchmark: {n} x {d} synthetic Matryoshka, {nq} queries, {metric}, nlist {nlist}, "
         f"coarse_dim {coarse_dim}, device {torch.cuda.get_device_name(0)}")
    x = synthetic_matryoshka(n + nq, d, n_clusters=1024, seed=seed)
    xb, xq = x[nq:], np.ascontiguousarray(x[:nq])
    del x

    xb_t = torch.from_numpy(xb).cuda()
    if metric == "cosine":
        xb_t = xb_t / xb_t.norm(dim=1, keepdim=True).clamp_min(1e-30)
    exact_gpu(xb_t, xq[:256], 10, metric)  # warm-up
    times = []
    for _ in range(repeat):
        gt, sec = exact_gpu(xb_t, xq, 10, metric)
        times.append(sec)
    exact_qps = nq / min(times)
    del xb_t
    torch.cuda.empty_cache()
    bw = copy_bandwidth()
    _log(f"exact GPU search (PyTorch GEMM + top-k): QPS {exact_qps:,.0f}; D2D copy bandwidth {bw / 1e9:,.0f} GB/s")

    t = time.perf_counter()
    index = IVFIndex(d, nlist, coarse_dim=coarse_dim, metric=metric, seed=seed)
    index.train(xb)
    index.add(xb)
    build_cpu = time.perf_counter() - t
    t = time.perf_counter()
    g = to_gpu(index)
    upload = time.perf_counter() - t
    _log(f"AdANNS-IVF built on the CPU in {build_cpu:.1f} s, copied to the GPU in {upload:.1f} s "
         f"({g.index_bytes / 2**30:.2f} GiB on the device)")

    points: List[Dict[str, Any]] = []
    g.search(xq[:256], 10, nprobe=8, scan_dim=min(d, 128))  # warm-up
    for nprobe in (4, 8, 16, 32, 64):
        for scan_dim in sorted({min(d, 64), min(d, 128), min(d, 256), d}):
            for rerank_k in ((0,) if scan_dim == d else (0, 100, 200)):
                (_, ids), sec = timed(lambda: g.search(xq, 10, nprobe=nprobe, scan_dim=scan_dim, rerank_k=rerank_k),
                                      repeat)
                r = recall_at_k(ids, gt, 10)
                nbytes = scan_bytes(index, xq, nprobe, scan_dim)
                p = {"nprobe": nprobe, "scan_dim": scan_dim, "rerank_k": rerank_k, "recall@10": r,
                     "qps": nq / sec, "scan_bytes": nbytes, "scan_GBps_lower_bound": nbytes / sec / 1e9}
                points.append(p)
                _log(f"  nprobe {nprobe:3d} scan_dim {scan_dim:4d} rerank_k {rerank_k:3d}: recall@10 {r:.4f}  "
                     f"QPS {p['qps']:>10,.0f}  ({p['qps'] / exact_qps:5.1f}x exact)  scan >= {p['scan_GBps_lower_bound']:,.0f} GB/s")
    faiss_rep = _faiss_gpu(xb, xq, gt, nlist, metric, [4, 8, 16, 32, 64], repeat)
    ok = [p for p in points if p["recall@10"] >= 0.95]
    best: Optional[Dict[str, Any]] = max(ok, key=lambda p: p["qps"]) if ok else None
    summary = {"best_at_recall_0.95": best, "speedup_vs_exact": None if best is None else best["qps"] / exact_qps}
    if best is not None and faiss_rep.get("status") == "ok":
        f_ok = [p for p in faiss_rep["points"] if p["recall@10"] >= 0.95]
        if f_ok:
            summary["speedup_vs_faiss_gpu"] = best["qps"] / max(p["qps"] for p in f_ok)
    report = {"dataset": {"n": n, "d": d, "nq": nq, "metric": metric, "seed": seed}, "nlist": nlist,
              "coarse_dim": coarse_dim, "device": torch.cuda.get_device_name(0), "exact_qps": exact_qps,
              "copy_bandwidth_Bps": bw, "build_cpu_seconds": build_cpu, "upload_seconds": upload,
              "adanns_gpu": points, "faiss_gpu": faiss_rep, "summary": summary}
    _log(f"summary: {json.dumps(summary)}")
    out = getattr(args, "out", None) or os.path.join("bench_results", "gpu.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "w") as f:
        json.dump(report, f, indent=1)
    _log(f"wrote {out}")
    return 0
