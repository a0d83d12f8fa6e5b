"""Ground truth, recall and timing helpers."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple

import numpy as np



def ground_truth(xb: np.ndarray, xq: np.ndarray, k: int = 100, metric: str = "l2", dim: Optional[int] = None) -> np.ndarray:
    """Exact top-k ids of each query (computed by the C++ flat scan, multithreaded).

    ``dim`` restricts the ranking to a prefix (default: all dims).
    """
    from .index import FlatIndex  # here: index -> tuning -> evaluation imports at load time

    index = FlatIndex(xb.shape[1], metric)
    index.add(xb)
    _, ids = index.search(xq, min(k, xb.shape[0]), scan_dim=dim)
    return ids


def recall_at_k(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Recall k@k: mean fraction of the true top-k among the first k returned ids (vectorised,
    in blocks of queries so memory stays small for large k). ``-1`` ids never count."""
    a = np.asarray(ids)[:, :k]
    g = np.asarray(gt)[:, :k]
    if a.shape[0] != g.shape[0]:
        raise ValueError("ids and gt must have one row per query")
    if g.size == 0:
        return 0.0
    hits = 0
    step = max(1, (1 << 22) // (a.shape[1] * g.shape[1] or 1))
    for b in range(0, a.shape[0], step):
        hits += int((a[b : b + step, :, None] == g[b : b + step, None, :]).any(axis=2).sum())
    return hits / float(g.shape[0] * g.shape[1])


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
