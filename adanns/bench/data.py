"""Benchmark data: loading (GloVe, synthetic, vector files, real embeddings), subsampling,
normalisation, the PCA ordering, and the exact ground truth cached on disk by content hash."""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from typing import Any, Dict, Optional, Tuple

import numpy as np

from ..datasets import load_dataset
from ..evaluation import ground_truth
from ..transforms import PCATransform
from .config import log


def content_hash(xb: np.ndarray, xq: np.ndarray, metric: str, k: int) -> str:
    """A hex digest of (xb, xq, metric, k): the ground-truth cache key."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"adanns-gt-v1|{metric}|{k}|{xb.shape}|{xq.shape}|{xb.dtype}|".encode())
    for arr in (xb, xq):
        arr = np.ascontiguousarray(arr)
        flat = arr.reshape(-1)
        step = 1 << 24
        for b in range(0, flat.size, step):
            h.update(memoryview(flat[b : b + step]))
    return h.hexdigest()


def cached_ground_truth(xb: np.ndarray, xq: np.ndarray, metric: str, k: int, cache_dir: Optional[str]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Exact top-k ids (int64, nq x k), computed once and cached by content hash."""

    key = content_hash(xb, xq, metric, k)
    info: Dict[str, Any] = {"k": k, "hash": key, "cached": False, "seconds": 0.0, "path": None}
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"gt-{key}.npy")
        info["path"] = path
        if os.path.exists(path):
            try:
                gt = np.load(path, allow_pickle=False)
                if gt.shape == (xq.shape[0], min(k, xb.shape[0])):
                    info["cached"] = True
                    return gt, info
            except (OSError, ValueError):
                pass
    log(f"ground truth: exact top-{k} of {xq.shape[0]} queries over {xb.shape[0]} x {xb.shape[1]} ({metric}) ...")
    t = time.perf_counter()
    gt = np.asarray(ground_truth(xb, xq, k, metric), dtype=np.int64)
    info["seconds"] = time.perf_counter() - t
    log(f"ground truth: {info['seconds']:.1f} s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)  # type: ignore[arg-type]
        tmp = f"{path}.{os.getpid()}.tmp.npy"
        np.save(tmp, gt)
        os.replace(tmp, path)
    return gt, info


def prepare_data(args: argparse.Namespace) -> Tuple[np.ndarray, np.ndarray, str, Dict[str, Any]]:
    """Loads, subsamples, normalises (cosine) and PCA-rotates (``--pca``) the dataset."""
    spec = args.dataset
    quick = bool(args.quick)
    n_query = args.n_query if args.n_query is not None else (1_000 if quick else 10_000)
    if spec.startswith("synthetic") and quick and spec.count(":") < 1:
        spec = "synthetic:50000:64"
    log(f"loading {spec} ...")
    t = time.perf_counter()
    ds = load_dataset(spec, queries=args.queries, n_query=n_query, metric=args.metric, seed=args.seed)
    xb, xq, metric = ds.xb, ds.xq, ds.metric
    max_base = args.max_base if args.max_base is not None else (50_000 if quick else None)
    if max_base is not None and xb.shape[0] > max_base:
        xb = xb[:max_base]
    if xq.shape[0] > n_query:
        xq = xq[:n_query]
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    if metric == "cosine":
        # Normalised once, so every engine (inner product on unit vectors) sees the same data.
        for a in (xb, xq):
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            np.divide(a, norms, out=a)
    use_pca = args.pca == "on" or (args.pca == "auto" and not spec.startswith("synthetic"))
    pca_info: Dict[str, Any] = {"pca": use_pca, "pca_center": False}
    if use_pca:
        tr = PCATransform.for_metric(metric, seed=args.seed).fit(xb)
        xb, xq = tr.apply(xb), tr.apply(xq)
        frac = tr.energy_fraction()
        d = xb.shape[1]
        pca_info = {
            "pca": True,
            "pca_center": tr.center,
            "energy_fraction": {str(p): float(frac[p - 1]) for p in sorted({max(1, d // 8), max(1, d // 4), max(1, d // 2), d})},
        }
    info = {
        "name": ds.name,
        "spec": args.dataset,
        "n_base": int(xb.shape[0]),
        "n_query": int(xq.shape[0]),
        "dim": int(xb.shape[1]),
        "metric": metric,
        "seed": args.seed,
        "load_seconds": time.perf_counter() - t,
        **pca_info,
    }
    log(f"dataset {ds.name}: {xb.shape[0]} x {xb.shape[1]}, {xq.shape[0]} queries, {metric}" + (", PCA-rotated" if use_pca else ""))
    return xb, xq, metric, info
