"""Google ScaNN (tree + anisotropic quantisation + reorder)."""

from __future__ import annotations

import os
from typing import List

import numpy as np

from ..config import GT_K, Context, Setting
from .base import Method


class ScaNN(Method):
    family = "scann"
    library = "scann"
    requires = ("scann",)

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        n = ctx.xb.shape[0]
        self.build_params = {
            "num_leaves": ctx.cfg.nlist,
            "score_ah": 2,
            "anisotropic_quantization_threshold": 0.2 if ctx.metric != "l2" else float("nan"),
            "training_sample_size": min(n, 250_000),
        }

    def build(self) -> None:
        import scann

        xb = self.ctx.xb
        measure = "squared_l2" if self.ctx.metric == "l2" else "dot_product"
        b = scann.scann_ops_pybind.builder(xb, self.ctx.cfg.k, measure)
        b = b.tree(num_leaves=self.ctx.cfg.nlist, num_leaves_to_search=8, training_sample_size=self.build_params["training_sample_size"])
        if self.ctx.metric == "l2":
            b = b.score_ah(2)
        else:
            b = b.score_ah(2, anisotropic_quantization_threshold=0.2)
        self.index = b.reorder(max(self.ctx.cfg.scann_reorder + [GT_K])).build()
        self.index.set_num_threads(self.ctx.cfg.threads)

    def series(self) -> List[List[Setting]]:
        return [[{"leaves_to_search": p, "reorder": r} for p in self.ctx.nprobes] for r in self.ctx.cfg.scann_reorder]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        rr = max(s["reorder"], k)
        if single:
            ids, _ = self.index.search(xq[0], final_num_neighbors=k, pre_reorder_num_neighbors=rr, leaves_to_search=s["leaves_to_search"])
            return np.asarray(ids, np.int64)[None, :]
        ids, _ = self.index.search_batched_parallel(xq, final_num_neighbors=k, pre_reorder_num_neighbors=rr, leaves_to_search=s["leaves_to_search"])
        return np.asarray(ids, np.int64)

    file_name = "scann"

    def save(self, path: str) -> None:
        os.makedirs(path)
        self.index.serialize(path)
