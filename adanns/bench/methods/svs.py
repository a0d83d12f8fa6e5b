"""Intel Scalable Vector Search (Vamana graphs)."""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

import numpy as np

from ..config import Context, Setting
from .base import Method


class SVSVamana(Method):
    family = "svs-vamana"
    library = "scalable-vs"
    requires = ("svs",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        alpha = 1.2 if ctx.metric == "l2" else 0.95
        self.build_params = {"graph_max_degree": 32, "window_size": 64, "alpha": alpha, "data": "float32"}

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 2.0 * n * (d * 4 + 32 * 4)

    def build(self) -> None:
        import svs

        p = self.build_params
        params = svs.VamanaBuildParameters(graph_max_degree=p["graph_max_degree"], window_size=p["window_size"], alpha=p["alpha"])
        dist = svs.DistanceType.L2 if self.ctx.metric == "l2" else svs.DistanceType.MIP
        self.index = svs.Vamana.build(params, self.ctx.xb, dist, num_threads=self.ctx.cfg.threads)

    def series(self) -> List[List[Setting]]:
        return [[{"search_window_size": e} for e in self.ctx.cfg.efs]]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        self.index.search_window_size = max(s["search_window_size"], k)
        self.index.num_threads = 1 if single else self.ctx.cfg.threads
        return np.asarray(self.index.search(xq, k)[0], np.int64)

    def serialize(self, directory: str) -> Optional[str]:
        path = os.path.join(directory, "svs")
        for sub in ("config", "graph", "data"):
            os.makedirs(os.path.join(path, sub))
        self.index.save(os.path.join(path, "config"), os.path.join(path, "graph"), os.path.join(path, "data"))
        return path


FAMILIES: Dict[str, Callable[[Context], List[Method]]] = {"svs-vamana": lambda ctx: [SVSVamana(ctx)]}
