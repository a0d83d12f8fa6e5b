"""Graph-index peers: hnswlib (HNSW) and Intel Scalable Vector Search (Vamana). Faiss's HNSW is
in :mod:`.faiss`."""

from __future__ import annotations

import os
from typing import List

import numpy as np

from ..config import Context, Setting
from .base import Method


class HnswLib(Method):
    family = "hnswlib"
    library = "hnswlib"
    requires = ("hnswlib",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.build_params = {"M": ctx.cfg.hnswlib_m, "ef_construction": 100}

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 1.5 * n * (d * 4 + self.ctx.cfg.hnswlib_m * 2 * 4 * 1.1 + 16)

    def build(self) -> None:
        import hnswlib

        n, d = self.ctx.xb.shape
        space = "l2" if self.ctx.metric == "l2" else "ip"
        self.index = hnswlib.Index(space=space, dim=d)
        self.index.init_index(max_elements=n, M=self.build_params["M"], ef_construction=self.build_params["ef_construction"], random_seed=100 + self.ctx.cfg.seed)
        self.index.add_items(self.ctx.xb, np.arange(n), num_threads=self.ctx.cfg.threads)

    def series(self) -> List[List[Setting]]:
        return [[{"ef": e} for e in self.ctx.cfg.efs]]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        self.index.set_ef(max(s["ef"], k))
        return self.index.knn_query(xq, k=k, num_threads=1 if single else self.ctx.cfg.threads)[0].astype(np.int64)

    file_name = "index.hnswlib"

    def save(self, path: str) -> None:
        self.index.save_index(path)


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

    file_name = "svs"

    def save(self, path: str) -> None:
        parts = [os.path.join(path, sub) for sub in ("config", "graph", "data")]
        for p in parts:
            os.makedirs(p)
        self.index.save(*parts)
