"""The one cost model: multiply-adds per query (the AdANNS paper's count), used by
``tune``, :func:`adanns.evaluation.search_cost` and ``adanns bench``.

    cost = fixed(setting) + per_vector(setting) * probed + rerank_k * rerank_dim

``fixed`` and ``per_vector`` come from the index (``_cost_terms``): for IVF-Flat
``probe_dim * nlist`` and ``scan_dim``; for (IVF)PQ ``coarse_dim * nlist`` plus the lookup
tables (``256 * pq_dim`` per probed list) and ``m`` lookups per scanned code. ``probed`` is the
mean number of vectors in the probed lists: measured by probing a query sample when one is
given (:class:`CostModel`), else ``nprobe`` times the mean list size.
"""

from __future__ import annotations

from typing import Any, Dict, Iterable, Mapping, Optional, Tuple

import numpy as np


class CostModel:
    """Modelled multiply-adds per query of settings of one index (optionally on a query sample)."""

    def __init__(self, index: Any, xq: Optional[np.ndarray] = None, nprobes: Iterable[int] = (),
                 probe_dims: Iterable[Optional[int]] = (None,)) -> None:
        self.index = index
        # an index without lists (a graph) puts its whole cost in _cost_terms' fixed part
        sizes = np.asarray(index.list_sizes() if hasattr(index, "list_sizes") else [], dtype=np.float64)
        self._mean = float(sizes.mean()) if sizes.size else 0.0
        self._probed: Dict[Tuple[int, int], float] = {}
        nprobes = sorted({int(p) for p in nprobes})
        if xq is not None and xq.shape[0] and nprobes and getattr(index, "nlist", 1) > 1:
            for pd in probe_dims:
                pd = index.coarse_dim if pd is None else int(pd)
                pr = index._probe(xq, nprobes[-1], pd)
                cum = np.cumsum(sizes[pr], axis=1).mean(axis=0)
                for p in nprobes:
                    self._probed[(pd, p)] = float(cum[p - 1])

    def probed(self, nprobe: int, probe_dim: int) -> float:
        """Mean number of vectors in the ``nprobe`` probed lists."""
        got = self._probed.get((probe_dim, nprobe))
        return got if got is not None else min(nprobe, getattr(self.index, "nlist", 1)) * self._mean

    def terms(self, settings: Mapping[str, Optional[int]]) -> Tuple[float, float, float, float]:
        """The parts of the cost: (fixed multiply-adds, scan multiply-adds, vectors scanned,
        rerank multiply-adds). Their sum less the vector count is :meth:`__call__`; the tuner
        fits measured time to them (a scanned vector and a re-scored candidate cost more than
        their multiply-adds: memory traffic, heap updates, gathers)."""
        s = self.index._full_settings(settings)
        fixed, per_vector = self.index._cost_terms(s)
        probed = self.probed(s["nprobe"], s["probe_dim"])
        return float(fixed), float(per_vector * probed), float(probed), float(s["rerank_k"] * s["rerank_dim"])

    def __call__(self, settings: Mapping[str, Optional[int]]) -> float:
        fixed, scan, _, rerank = self.terms(settings)
        return float(fixed + scan + rerank)


def search_cost(index: Any, xq: Optional[np.ndarray] = None, **settings: Optional[int]) -> float:
    """Modelled multiply-adds per query of ``index.search(..., **settings)``; with a query sample
    ``xq`` the probed list sizes are measured, else estimated from the mean list size."""
    s = index._full_settings(settings)
    model = CostModel(index, xq, [s["nprobe"]], [s["probe_dim"]])
    return model(s)
