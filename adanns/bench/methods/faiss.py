"""Faiss peers: flat, IVF-Flat (+ Panorama), the prefix-quantiser IVF (the AdANNS recipe on
Faiss), OPQ-IVFPQ with an exact refine, HNSW."""

from __future__ import annotations

from typing import Any, List, Optional

import numpy as np

from ..config import Context, Setting, nearest_divisor
from .base import Method


class _Faiss(Method):
    library = "faiss"
    requires = ("faiss",)
    needs = ""  # a Faiss class this method needs (newer Faiss versions only)
    index: Any = None

    def check(self) -> Optional[str]:
        reason = super().check()
        if reason or not self.needs:
            return reason
        import faiss

        return None if hasattr(faiss, self.needs) else f"{self.needs} is not in faiss {faiss.__version__}"

    @property
    def fmetric(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.ctx.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        self.configure(s)
        return self.index.search(xq, k)[1]

    def configure(self, s: Setting) -> None:
        pass

    file_name = "index.faiss"

    def save(self, path: str) -> None:
        import faiss

        faiss.write_index(self.index, path)

    def _ivf_madds(self, coarse_d: int, scan_d: int, nprobe: int) -> float:
        n = self.ctx.xb.shape[0]
        return float(coarse_d * self.ctx.cfg.nlist + nprobe * scan_d * n / self.ctx.cfg.nlist)


class FaissFlat(_Faiss):
    family = "faiss-flat"

    def build(self) -> None:
        import faiss

        self.index = faiss.IndexFlat(self.ctx.dim, self.fmetric)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{}]]

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return float(self.ctx.dim * self.ctx.xb.shape[0])


class FaissIVFFlat(_Faiss):
    family = "faiss-ivfflat"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.build_params = {"nlist": ctx.cfg.nlist}

    def build(self) -> None:
        import faiss

        d = self.ctx.dim
        self.index = faiss.IndexIVFFlat(faiss.IndexFlat(d, self.fmetric), d, self.ctx.cfg.nlist, self.fmetric)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{"nprobe": p} for p in self.ctx.nprobes]]

    def configure(self, s: Setting) -> None:
        self.index.nprobe = s["nprobe"]

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return self._ivf_madds(getattr(self, "coarse_dim", self.ctx.dim), self.ctx.dim, s["nprobe"])


class FaissIVFFlatPanorama(FaissIVFFlat):
    family = "faiss-ivfflat-panorama"

    needs = "IndexIVFFlatPanorama"

    def build(self) -> None:
        import faiss

        d = self.ctx.dim
        levels = nearest_divisor(d, 8)
        self.build_params = {"nlist": self.ctx.cfg.nlist, "n_levels": levels}
        self.index = faiss.IndexIVFFlatPanorama(faiss.IndexFlat(d, self.fmetric), d, self.ctx.cfg.nlist, levels, self.fmetric)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def madds(self, s: Setting, k: int) -> Optional[float]:
        # Upper bound: Panorama prunes part of the scan, the model counts the full scan.
        return self._ivf_madds(self.ctx.dim, self.ctx.dim, s["nprobe"])


class FaissPrefixIVF(FaissIVFFlat):
    """The AdANNS-IVF recipe on Faiss: the coarse quantizer sees a prefix only
    (IndexIVFIndependentQuantizer + RemapDimensionsTransform), the lists hold full vectors."""

    family = "faiss-ivf-prefixquant"
    _name_keys = ("coarse_dim",)

    def __init__(self, ctx: Context, coarse_dim: int) -> None:
        super().__init__(ctx)
        self.coarse_dim = coarse_dim
        self.build_params = {"nlist": ctx.cfg.nlist, "coarse_dim": coarse_dim}

    needs = "IndexIVFIndependentQuantizer"

    @classmethod
    def instances(cls, ctx: Context) -> List[Method]:
        return [cls(ctx, c) for c in ctx.cfg.coarse_dims if c < ctx.dim]

    def build(self) -> None:
        import faiss

        d, p, m = self.ctx.dim, self.coarse_dim, self.fmetric
        self._quant = faiss.IndexPreTransform(faiss.RemapDimensionsTransform(d, p, False), faiss.IndexFlat(p, m))
        self._ivf = faiss.IndexIVFFlat(faiss.IndexFlat(d, m), d, self.ctx.cfg.nlist, m)
        self.index = faiss.IndexIVFIndependentQuantizer(self._quant, self._ivf, None)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def configure(self, s: Setting) -> None:
        self._ivf.nprobe = s["nprobe"]


class FaissOPQRefine(_Faiss):
    family = "faiss-opq-ivfpq-rflat"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        d = ctx.dim
        self.m = nearest_divisor(d, d / 4)
        self.opq_niter = ctx.cfg.opq_niter
        self.build_params = {"factory": f"OPQ{self.m},IVF{ctx.cfg.nlist},PQ{self.m}", "refine": "RFlat", "opq_niter": self.opq_niter}

    def build(self) -> None:
        import faiss

        d = self.ctx.dim
        base = faiss.index_factory(d, self.build_params["factory"], self.fmetric)
        # Faiss defaults (OPQ niter=50, polysemous training) take minutes on 2 cores and
        # do not matter with an exact refine; fewer OPQ iterations, no polysemous codes.
        opq = faiss.downcast_VectorTransform(faiss.downcast_index(base).chain.at(0))
        opq.niter = self.opq_niter
        faiss.downcast_index(faiss.extract_index_ivf(base)).do_polysemous_training = False
        self.index = faiss.IndexRefineFlat(base)
        xb = self.ctx.xb
        ntrain = min(xb.shape[0], max(100_000, 50 * self.ctx.cfg.nlist))
        if ntrain < xb.shape[0]:
            rows = np.sort(np.random.default_rng(self.ctx.cfg.seed).choice(xb.shape[0], ntrain, replace=False))
            self.index.train(np.ascontiguousarray(xb[rows]))
        else:
            self.index.train(xb)
        self.index.add(xb)
        self._ivf = faiss.extract_index_ivf(base)

    def series(self) -> List[List[Setting]]:
        return [[{"nprobe": p, "k_factor": f} for p in self.ctx.nprobes] for f in self.ctx.cfg.k_factors]

    def configure(self, s: Setting) -> None:
        self._ivf.nprobe = s["nprobe"]
        self.index.k_factor = float(s["k_factor"])

    def madds(self, s: Setting, k: int) -> Optional[float]:
        # OPQ rotation + coarse + one 256-entry table per sub-quantizer + PQ adds + refine.
        n, d = self.ctx.xb.shape
        nlist = self.ctx.cfg.nlist
        return float(d * d + d * nlist + 256 * d + s["nprobe"] * self.m * n / nlist + s["k_factor"] * k * d)


class FaissHNSW(_Faiss):
    family = "faiss-hnsw"

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.build_params = {"M": ctx.cfg.hnsw_m, "efConstruction": 40}

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 1.5 * n * (d * 4 + self.ctx.cfg.hnsw_m * 2 * 4 * 1.1)

    def build(self) -> None:
        import faiss

        self.index = faiss.IndexHNSWFlat(self.ctx.dim, self.ctx.cfg.hnsw_m, self.fmetric)
        self.index.hnsw.efConstruction = self.build_params["efConstruction"]
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{"efSearch": e} for e in self.ctx.cfg.efs]]

    def configure(self, s: Setting) -> None:
        self.index.hnsw.efSearch = s["efSearch"]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        import faiss

        self.configure(s)
        if not single:
            faiss.cvar.hnsw_stats.reset()
        ids = self.index.search(xq, k)[1]
        if not single and k == self.ctx.cfg.k:
            self._last_ndis = faiss.cvar.hnsw_stats.ndis / max(1, xq.shape[0])
        return ids

    def madds(self, s: Setting, k: int) -> Optional[float]:
        # Measured: distance computations counted by Faiss during the timed batch, x dim.
        ndis = getattr(self, "_last_ndis", None)
        return None if ndis is None else float(ndis * self.ctx.dim)
