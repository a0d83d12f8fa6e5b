"""The AdANNS indices: IVF (``adanns-ivf``, rigid rows when every stage uses all dims),
IVF-(O)PQ with exact rerank (``adanns-ivfpq``) and the graph walked on a prefix (``adanns-graph``). Settings are the shared search vocabulary
(:mod:`adanns.params`); the cost column is the one cost model (:mod:`adanns.cost`)."""

from __future__ import annotations

from typing import Any, List, Optional, Tuple

import numpy as np

from ...cost import CostModel
from ...graph_index import GraphIndex
from ...index import IVFIndex
from ...pq_index import IVFPQIndex
from ..config import Context, Setting, nearest_divisor
from .base import Method


class _Adanns(Method):
    library = "adanns"
    _name_keys = ("coarse_dim",)
    index: Any = None
    _cost: Optional[CostModel] = None

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        return self.index.search(xq, k, **s)[1]

    def madds(self, s: Setting, k: int) -> Optional[float]:
        if self._cost is None:  # probed list sizes measured once, on the benchmark's queries
            self._cost = CostModel(self.index, self.ctx.xq, self.ctx.nprobes)
        return self._cost(s)

    file_name = "index.adanns"

    def save(self, path: str) -> None:
        self.index.save(path)


class AdannsIVF(_Adanns):
    """IVFIndex, one instance per coarse_dim and scan store: the float32 rows (the rigid rows,
    every stage on all dims, are its full-dim settings without rerank) and the int8 copy (scans
    on prefixes and on all dims, always reranked)."""

    family = "adanns-ivf"
    _name_keys = ("coarse_dim", "scan_store")

    def __init__(self, ctx: Context, coarse_dim: int, scan_store: str = "float32") -> None:
        super().__init__(ctx)
        self.coarse_dim = coarse_dim
        self.scan_store = scan_store
        self.build_params = {"nlist": ctx.cfg.nlist, "coarse_dim": coarse_dim, "scan_store": scan_store}

    @classmethod
    def instances(cls, ctx: Context) -> List[Method]:
        return [cls(ctx, c, store) for c in ctx.cfg.coarse_dims for store in ("float32", "int8")]

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 1.3 * n * (d * 4 + 8 + (d + 8 if self.scan_store == "int8" else 0))

    def unsaved_bytes_per_vector(self) -> float:
        if self.scan_store != "int8":
            return 0.0
        # the int8 copy (not saved): blocks of 16 rows per list, 2 bytes for each of the first 8
        # dims and 1 for the others (rounded up to 4) per row
        d = self.ctx.dim
        wide = min(8, d)
        sizes = self.index.list_sizes()
        return float(-(-sizes // 16).sum() * 16 * (2 * wide + 4 * -(-(d - wide) // 4)) / max(1, sizes.sum()))

    def build(self) -> None:
        d = self.ctx.dim
        self.index = IVFIndex(d, self.ctx.cfg.nlist, self.coarse_dim, self.ctx.metric, seed=1234 + self.ctx.cfg.seed,
                              scan_store=self.scan_store)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)
        if self.scan_store == "int8":  # the int8 copy is made now, not in the first timed search
            self.index.search(self.ctx.xb[:1], 1)

    def series(self) -> List[List[Setting]]:
        d = self.ctx.dim
        if self.scan_store == "int8":  # every prefix, and all dims (the int8 copy pays on all dims too)
            dims = sorted({sd for sd in self.ctx.cfg.scan_dims if sd <= d} | {d})
            combos: List[Tuple[int, int]] = [(sd, r) for sd in dims for r in self.ctx.cfg.rerank_ks]
        else:
            combos = [(d, 0)] + [(sd, r) for sd in self.ctx.cfg.scan_dims if sd < d for r in self.ctx.cfg.rerank_ks]
        return [[{"nprobe": p, "scan_dim": sd, "rerank_k": r} for p in self.ctx.nprobes] for sd, r in combos]

    def family_of(self, s: Setting) -> str:
        d = self.ctx.dim
        rigid = self.coarse_dim == d and s["scan_dim"] == d and s["rerank_k"] == 0 and self.scan_store == "float32"
        return "adanns-ivf-rigid" if rigid else "adanns-ivf"


class AdannsIVFPQ(_Adanns):
    """IVF-PQ on the full vectors' prefix: m = d/4 bytes per vector, exact rerank from RAM."""

    family = "adanns-ivfpq"

    def __init__(self, ctx: Context, coarse_dim: int) -> None:
        super().__init__(ctx)
        d = ctx.dim
        self.coarse_dim = coarse_dim
        self.build_params = {"nlist": ctx.cfg.nlist, "coarse_dim": coarse_dim, "m": nearest_divisor(d, d / 4)}

    @classmethod
    def instances(cls, ctx: Context) -> List[Method]:
        return [cls(ctx, max(ctx.cfg.coarse_dims))]

    def build(self) -> None:
        d, cfg = self.ctx.dim, self.ctx.cfg
        self.index = IVFPQIndex(d, cfg.nlist, self.coarse_dim, d, m=self.build_params["m"], metric=self.ctx.metric,
                                keep_full="ram", seed=1234 + cfg.seed, opq_niter=cfg.opq_niter)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{"nprobe": p, "rerank_k": r} for p in self.ctx.nprobes] for r in self.ctx.cfg.rerank_ks]


class AdannsGraph(_Adanns):
    """GraphIndex (Vamana) built and walked on the first d/2 dims, reranked on all of them;
    one instance per walk store (float32, int8). Degree 32, like the graph peers. The int8
    store's rows are cheap, so it walks on a longer prefix: the largest up to 2d/3 whose rows fill
    whole cache lines (graph_dim + 8 bytes a multiple of 64: 248 of 384 dims), where there is one
    of at least d/2 dims, built with beam 96 (its build then takes about as long as the float32
    graph's on d/2 dims with the default 128)."""

    family = "adanns-graph"
    _name_keys = ("graph_dim", "store")

    def __init__(self, ctx: Context, store: str) -> None:
        super().__init__(ctx)
        gd, build_beam = max(1, ctx.dim // 2), 128
        if store == "int8":
            lines = (2 * ctx.dim // 3 + 8) // 64 * 64 - 8  # int8 rows: graph_dim + 8 bytes
            if lines >= max(8, gd):
                gd, build_beam = lines, 96
        self.build_params = {"graph_dim": gd, "degree": 32, "store": store, "build_beam": build_beam}

    @classmethod
    def instances(cls, ctx: Context) -> List[Method]:
        return [cls(ctx, store) for store in ("float32", "int8")]

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 1.5 * n * (d * 4 + self.build_params["graph_dim"] * 4 + 32 * 4 + 16)

    def build(self) -> None:
        p = self.build_params
        self.index = GraphIndex(self.ctx.dim, p["graph_dim"], p["degree"], self.ctx.metric, store=p["store"],
                                build_beam=p["build_beam"], seed=1234 + self.ctx.cfg.seed)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{"beam": e, "rerank_k": e} for e in self.ctx.cfg.efs]]

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return None  # the IVF cost model does not describe a graph walk

