"""Ground truth, recall and timing helpers."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple

import numpy as np

from .index import FlatIndex


def ground_truth(xb: np.ndarray, xq: np.ndarray, k: int = 100, metric: str = "l2", dim: Optional[int] = None) -> np.ndarray:
    """Exact top-k ids of each query (computed by the C++ flat scan, multithreaded).

    ``dim`` restricts the ranking to a prefix (default: all dims).
    """
    index = FlatIndex(xb.shape[1], metric)
    index.add(xb)
    _, ids = index.search(xq, min(k, xb.shape[0]), scan_dim=dim)
    return ids


def recall_at_k(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Mean fraction of the true top-k found in the first k results (recall k@k)."""
    ids = np.asarray(ids)[:, :k]
    gt = np.asarray(gt)[:, :k]
    if ids.shape[0] != gt.shape[0]:
        raise ValueError("ids and gt must have one row per query")
    hits = 0
    for a, b in zip(ids, gt):
        hits += np.intersect1d(a[a >= 0], b, assume_unique=False).size
    return hits / float(gt.shape[0] * gt.shape[1])


def timed(fn: Callable[[], Any], repeat: int = 1) -> Tuple[Any, float]:
    """Runs fn ``repeat`` times; returns the last result and the best wall time in seconds."""
    best = float("inf")
    out = None
    for _ in range(max(1, repeat)):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def ivf_cost(index: Any, nprobe: int, scan_dim: int, rerank_k: int = 0, rerank_dim: Optional[int] = None) -> float:
    """The paper's multiply-add count per query, with the index's mean list size."""
    sizes = index.list_sizes()
    per_list = float(sizes.mean()) if sizes.size else 0.0
    rd = index.dim if rerank_dim is None else rerank_dim
    return index.coarse_dim * index.nlist + nprobe * scan_dim * per_list + rerank_k * rd
