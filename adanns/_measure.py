"""Recall and the one timer, shared by tuning, evaluation, the benchmark and benchmarks/ (imports
nothing of ours)."""

from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple

import numpy as np


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


def timed(fn: Callable[[], Any], repeat: int = 1, min_time: Optional[float] = None) -> Tuple[Any, float]:
    """Runs ``fn`` ``repeat`` times (at least once) and returns the last result and the best wall
    time of one call in seconds. With ``min_time``, stops early once the runs so far took that
    many seconds in all (the benchmark's rule: one run of a slow setting is enough)."""
    best, spent, out = float("inf"), 0.0, None
    for i in range(max(1, repeat)):
        if i and min_time is not None and spent >= min_time:
            break
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best, spent = min(best, dt), spent + dt
    return out, best


def best_time(fn: Callable[[], Any], repeat: int = 1) -> float:
    """The best wall time of one call of ``fn`` over ``repeat`` runs (:func:`timed` without the result)."""
    return timed(fn, repeat)[1]
