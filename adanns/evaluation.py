"""Ground truth, recall, timing and the cost model, for users and benchmarks."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ._measure import recall_at_k, timed
from .cost import CostModel, search_cost
from .index import FlatIndex

__all__ = ["ground_truth", "recall_at_k", "timed", "search_cost", "ivf_cost", "CostModel"]


def ground_truth(xb: np.ndarray, xq: np.ndarray, k: int = 100, metric: str = "l2", dim: Optional[int] = None) -> np.ndarray:
    """Exact top-k ids of each query (computed by the C++ flat scan, multithreaded).

    ``dim`` restricts the ranking to a prefix (default: all dims).
    """
    index = FlatIndex(xb.shape[1], metric)
    index.add(xb)
    _, ids = index.search(xq, min(k, xb.shape[0]), scan_dim=dim)
    return ids


def ivf_cost(index: Any, nprobe: int, scan_dim: Optional[int] = None, rerank_k: int = 0,
             rerank_dim: Optional[int] = None, xq: Optional[np.ndarray] = None) -> float:
    """The paper's multiply-add count per query (:func:`adanns.cost.search_cost`, the model
    ``tune`` and ``adanns bench`` use); ``xq`` measures the probed list sizes on queries."""
    return search_cost(index, xq, nprobe=nprobe, scan_dim=scan_dim, rerank_k=rerank_k, rerank_dim=rerank_dim)
