"""hnswlib (HNSW graphs)."""

from __future__ import annotations

import os
from typing import Callable, Dict, List, Optional

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

    def serialize(self, directory: str) -> Optional[str]:
        path = os.path.join(directory, "index.hnswlib")
        self.index.save_index(path)
        return path


FAMILIES: Dict[str, Callable[[Context], List[Method]]] = {"hnswlib": lambda ctx: [HnswLib(ctx)]}
