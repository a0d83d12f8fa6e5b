"""``adanns bench``: recall / QPS benchmark of AdANNS-IVF against Faiss and other engines.

One run = one dataset. The steps:

1. load the dataset (:func:`adanns.datasets.load_dataset`), optionally subsample it;
   cosine data is L2-normalised once, and data that is not Matryoshka-trained (GloVe,
   files) is rotated by a :class:`~adanns.transforms.PCATransform` so that prefixes carry
   most of the energy. Every method then indexes the same vectors;
2. exact top-100 ground truth, cached on disk under a content hash of (xb, xq, metric, k);
3. every method is built once and swept over its search settings; each series of a
   sweep (e.g. increasing ``nprobe``) stops once recall@10 reaches ``--stop-recall``;
4. per (method, setting): recall@1/10/100, batch QPS (all cores), single-query p50/p99
   latency, build time, bytes per vector, multiply-adds per query (where a model exists);
5. Pareto fronts (recall@10 vs QPS), the summary "AdANNS best QPS / peer best QPS at
   recall@10 >= 0.90 / 0.95", a printed table, a JSON file and a PNG plot.

Peers that are not installed, fail, or would not fit in memory are reported as
``skipped: <reason>``, never dropped. The JSON schema is documented in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .evaluation import ground_truth, ivf_cost, recall_at_k

SCHEMA_VERSION = 1
TARGETS = (0.90, 0.95)
K = 10  # the k of the timed searches (recall@10 vs QPS)
GT_K = 100

Setting = Dict[str, Any]


# =========================================================================== small helpers
def _log(msg: str) -> None:
    print(msg, flush=True)


def _version(dist: str) -> Optional[str]:
    try:
        from importlib.metadata import version

        return version(dist)
    except Exception:  # noqa: BLE001 - metadata may be missing for any reason
        return None


def _available_memory() -> Optional[int]:
    """MemAvailable in bytes (Linux), else None."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def _path_size(path: str) -> int:
    if os.path.isfile(path):
        return os.path.getsize(path)
    total = 0
    for root, _, files in os.walk(path):
        for f in files:
            total += os.path.getsize(os.path.join(root, f))
    return total


def default_nlist(n: int) -> int:
    """About 4 sqrt(n) lists, a multiple of 16 in [16, 4096] (as ``adanns run``)."""
    return int(max(16, min(4096, 4 * np.sqrt(n)) // 16 * 16))


def _nearest_divisor(d: int, target: float, lo: int = 1) -> int:
    divs = [m for m in range(max(1, lo), d + 1) if d % m == 0]
    return min(divs, key=lambda m: (abs(m - target), m))


def recall(ids: np.ndarray, gt: np.ndarray, k: int) -> float:
    """Recall k@k (see :func:`adanns.evaluation.recall_at_k`); both arrays need k columns."""
    if np.asarray(ids).shape[1] < k or np.asarray(gt).shape[1] < k:
        raise ValueError(f"need at least {k} columns in ids and gt")
    return recall_at_k(ids, gt, k)


def content_hash(xb: np.ndarray, xq: np.ndarray, metric: str, k: int) -> str:
    """A hex digest of (xb, xq, metric, k): the ground-truth cache key."""
    h = hashlib.blake2b(digest_size=16)
    h.update(f"adanns-gt-v1|{metric}|{k}|{xb.shape}|{xq.shape}|{xb.dtype}|".encode())
    for arr in (xb, xq):
        arr = np.ascontiguousarray(arr)
        flat = arr.reshape(-1)
        step = 1 << 24
        for b in range(0, flat.size, step):
            h.update(memoryview(flat[b : b + step]))
    return h.hexdigest()


def cached_ground_truth(xb: np.ndarray, xq: np.ndarray, metric: str, k: int, cache_dir: Optional[str]) -> Tuple[np.ndarray, Dict[str, Any]]:
    """Exact top-k ids (int64, nq x k), computed once and cached by content hash."""

    key = content_hash(xb, xq, metric, k)
    info: Dict[str, Any] = {"k": k, "hash": key, "cached": False, "seconds": 0.0, "path": None}
    path = None
    if cache_dir:
        path = os.path.join(cache_dir, f"gt-{key}.npy")
        info["path"] = path
        if os.path.exists(path):
            try:
                gt = np.load(path, allow_pickle=False)
                if gt.shape == (xq.shape[0], min(k, xb.shape[0])):
                    info["cached"] = True
                    return gt, info
            except (OSError, ValueError):
                pass
    _log(f"ground truth: exact top-{k} of {xq.shape[0]} queries over {xb.shape[0]} x {xb.shape[1]} ({metric}) ...")
    t = time.perf_counter()
    gt = np.asarray(ground_truth(xb, xq, k, metric), dtype=np.int64)
    info["seconds"] = time.perf_counter() - t
    _log(f"ground truth: {info['seconds']:.1f} s")
    if path:
        os.makedirs(cache_dir, exist_ok=True)  # type: ignore[arg-type]
        tmp = f"{path}.{os.getpid()}.tmp.npy"
        np.save(tmp, gt)
        os.replace(tmp, path)
    return gt, info


# =========================================================================== configuration
@dataclass
class SweepConfig:
    """Everything a run needs besides the data; built from the command line."""

    k: int = K
    nlist: int = 0
    nprobes: List[int] = field(default_factory=lambda: [1, 2, 4, 8, 16, 32, 64, 128, 256])
    coarse_dims: List[int] = field(default_factory=list)
    scan_dims: List[int] = field(default_factory=list)
    rerank_ks: List[int] = field(default_factory=lambda: [50, 200])
    efs: List[int] = field(default_factory=lambda: [10, 20, 40, 80, 160, 320, 640])
    k_factors: List[int] = field(default_factory=lambda: [4, 16])
    scann_reorder: List[int] = field(default_factory=lambda: [40, 160])
    stop_recall: float = 0.995
    n_single: int = 200
    n_recall100: int = 1000
    min_time: float = 0.5
    repeat: int = 3
    max_search_s: float = 30.0
    hnsw_m: int = 32
    opq_niter: int = 10
    hnswlib_m: int = 16
    threads: int = os.cpu_count() or 1
    seed: int = 0


@dataclass
class Measurement:
    """One (method, setting) point."""

    family: str
    params: Setting
    recall_at_1: float
    recall_at_10: float
    recall_at_100: Optional[float]
    qps: float
    batch_seconds: float
    latency_p50_ms: Optional[float]
    latency_p99_ms: Optional[float]
    madds_per_query: Optional[float]


@dataclass
class MethodReport:
    """One built index (a method family may have several, e.g. one per coarse_dim)."""

    name: str
    family: str
    library: str
    status: str  # "ok" or "skipped"
    reason: Optional[str] = None
    build_params: Setting = field(default_factory=dict)
    build_seconds: Optional[float] = None
    bytes_per_vector: Optional[float] = None
    results: List[Measurement] = field(default_factory=list)


# =========================================================================== methods
class Method:
    """A benchmarked index: build once, then search with several settings.

    Subclasses set ``family``/``library``, and implement :meth:`build`, :meth:`series`,
    :meth:`search` (and optionally :meth:`madds`, :meth:`serialize`).
    """

    family = ""
    library = ""
    requires: Tuple[str, ...] = ()

    def __init__(self, ctx: "Context") -> None:
        self.ctx = ctx
        self.build_params: Setting = {}

    @property
    def name(self) -> str:
        extra = ",".join(f"{k}={v}" for k, v in self.build_params.items() if k in self._name_keys)
        return f"{self.family}[{extra}]" if extra else self.family

    _name_keys: Tuple[str, ...] = ()

    def check(self) -> Optional[str]:
        """A reason to skip this method, or None. Default: import each module in ``requires``."""
        for mod in self.requires:
            try:
                __import__(mod)
            except Exception as e:  # noqa: BLE001 - any import failure means "skipped"
                return f"cannot import {mod}: {type(e).__name__}: {e}".strip()
        return None

    def memory_bytes(self) -> float:
        """A rough upper estimate of the peak memory of the build."""
        n, d = self.ctx.xb.shape
        return 2.5 * n * d * 4

    def build(self) -> None:
        raise NotImplementedError

    def series(self) -> List[List[Setting]]:
        """Sweeps, each ordered from fastest/least accurate to slowest/most accurate."""
        raise NotImplementedError

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        """Ids (nq, k) of the top-k of each query under setting ``s``."""
        raise NotImplementedError

    def family_of(self, s: Setting) -> str:
        return self.family

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return None

    def serialize(self, directory: str) -> Optional[str]:
        """Writes the index under ``directory`` and returns the path (file or folder)."""
        return None

    def release(self) -> None:
        for attr in list(vars(self)):
            if attr not in ("ctx", "build_params"):
                setattr(self, attr, None)
        gc.collect()


# ----------------------------------------------------------------------- adanns
class AdannsIVF(Method):
    family = "adanns-ivf"
    library = "adanns"
    _name_keys = ("coarse_dim",)

    def __init__(self, ctx: "Context", coarse_dim: int) -> None:
        super().__init__(ctx)
        self.coarse_dim = coarse_dim
        self.build_params = {"nlist": ctx.cfg.nlist, "coarse_dim": coarse_dim}
        self.index: Any = None

    def memory_bytes(self) -> float:
        n, d = self.ctx.xb.shape
        return 1.3 * n * (d * 4 + 8)

    def build(self) -> None:
        from .index import IVFIndex

        d = self.ctx.dim
        self.index = IVFIndex(d, self.ctx.cfg.nlist, self.coarse_dim, self.ctx.metric, seed=1234 + self.ctx.cfg.seed)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        d = self.ctx.dim
        combos: List[Tuple[int, int]] = [(d, 0)]
        for sd in self.ctx.cfg.scan_dims:
            if sd < d:
                combos += [(sd, r) for r in self.ctx.cfg.rerank_ks]
        return [[{"nprobe": p, "scan_dim": sd, "rerank_k": r} for p in self.ctx.nprobes] for sd, r in combos]

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        return self.index.search(xq, k, nprobe=s["nprobe"], scan_dim=s["scan_dim"], rerank_k=s["rerank_k"])[1]

    def family_of(self, s: Setting) -> str:
        d = self.ctx.dim
        rigid = self.coarse_dim == d and s["scan_dim"] == d and s["rerank_k"] == 0
        return "adanns-ivf-rigid" if rigid else "adanns-ivf"

    def madds(self, s: Setting, k: int) -> Optional[float]:

        rr = max(k, s["rerank_k"]) if s["rerank_k"] > 0 else 0
        return float(ivf_cost(self.index, s["nprobe"], s["scan_dim"], rr, self.ctx.dim))

    def serialize(self, directory: str) -> Optional[str]:
        path = os.path.join(directory, "index.adanns")
        self.index.save(path)
        return path


# ----------------------------------------------------------------------- faiss
class _Faiss(Method):
    library = "faiss"
    requires = ("faiss",)
    index: Any = None

    @property
    def fmetric(self) -> int:
        import faiss

        return faiss.METRIC_L2 if self.ctx.metric == "l2" else faiss.METRIC_INNER_PRODUCT

    def search(self, xq: np.ndarray, k: int, s: Setting, single: bool = False) -> np.ndarray:
        self.configure(s)
        return self.index.search(xq, k)[1]

    def configure(self, s: Setting) -> None:
        pass

    def serialize(self, directory: str) -> Optional[str]:
        import faiss

        path = os.path.join(directory, "index.faiss")
        faiss.write_index(self.index, path)
        return path

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

    def __init__(self, ctx: "Context") -> None:
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
        return self._ivf_madds(self.ctx.dim, self.ctx.dim, s["nprobe"])


class FaissIVFFlatPanorama(FaissIVFFlat):
    family = "faiss-ivfflat-panorama"

    def check(self) -> Optional[str]:
        reason = super().check()
        if reason:
            return reason
        import faiss

        if not hasattr(faiss, "IndexIVFFlatPanorama"):
            return f"IndexIVFFlatPanorama is not in faiss {faiss.__version__}"
        return None

    def build(self) -> None:
        import faiss

        d = self.ctx.dim
        levels = _nearest_divisor(d, 8)
        self.build_params = {"nlist": self.ctx.cfg.nlist, "n_levels": levels}
        self.index = faiss.IndexIVFFlatPanorama(faiss.IndexFlat(d, self.fmetric), d, self.ctx.cfg.nlist, levels, self.fmetric)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def madds(self, s: Setting, k: int) -> Optional[float]:
        # Upper bound: Panorama prunes part of the scan, the model counts the full scan.
        return self._ivf_madds(self.ctx.dim, self.ctx.dim, s["nprobe"])


class FaissPrefixIVF(_Faiss):
    """The AdANNS-IVF recipe on Faiss: the coarse quantizer sees a prefix only
    (IndexIVFIndependentQuantizer + RemapDimensionsTransform), the lists hold full vectors."""

    family = "faiss-ivf-prefixquant"
    _name_keys = ("coarse_dim",)

    def __init__(self, ctx: "Context", coarse_dim: int) -> None:
        super().__init__(ctx)
        self.coarse_dim = coarse_dim
        self.build_params = {"nlist": ctx.cfg.nlist, "coarse_dim": coarse_dim}

    def check(self) -> Optional[str]:
        reason = super().check()
        if reason:
            return reason
        import faiss

        if not hasattr(faiss, "IndexIVFIndependentQuantizer"):
            return f"IndexIVFIndependentQuantizer is not in faiss {faiss.__version__}"
        return None

    def build(self) -> None:
        import faiss

        d, p, m = self.ctx.dim, self.coarse_dim, self.fmetric
        self._quant = faiss.IndexPreTransform(faiss.RemapDimensionsTransform(d, p, False), faiss.IndexFlat(p, m))
        self._ivf = faiss.IndexIVFFlat(faiss.IndexFlat(d, m), d, self.ctx.cfg.nlist, m)
        self.index = faiss.IndexIVFIndependentQuantizer(self._quant, self._ivf, None)
        self.index.train(self.ctx.xb)
        self.index.add(self.ctx.xb)

    def series(self) -> List[List[Setting]]:
        return [[{"nprobe": p} for p in self.ctx.nprobes]]

    def configure(self, s: Setting) -> None:
        self._ivf.nprobe = s["nprobe"]

    def madds(self, s: Setting, k: int) -> Optional[float]:
        return self._ivf_madds(self.coarse_dim, self.ctx.dim, s["nprobe"])


class FaissOPQRefine(_Faiss):
    family = "faiss-opq-ivfpq-rflat"

    def __init__(self, ctx: "Context") -> None:
        super().__init__(ctx)
        d = ctx.dim
        self.m = _nearest_divisor(d, d / 4)
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

    def __init__(self, ctx: "Context") -> None:
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


# ----------------------------------------------------------------------- other engines
class HnswLib(Method):
    family = "hnswlib"
    library = "hnswlib"
    requires = ("hnswlib",)

    def __init__(self, ctx: "Context") -> None:
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


class ScaNN(Method):
    family = "scann"
    library = "scann"
    requires = ("scann",)

    def __init__(self, ctx: "Context") -> None:
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

    def serialize(self, directory: str) -> Optional[str]:
        path = os.path.join(directory, "scann")
        os.makedirs(path)
        self.index.serialize(path)
        return path


class SVSVamana(Method):
    family = "svs-vamana"
    library = "scalable-vs"
    requires = ("svs",)

    def __init__(self, ctx: "Context") -> None:
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


# =========================================================================== the run
@dataclass
class Context:
    """The data every method indexes, and the sweep configuration."""

    xb: np.ndarray
    xq: np.ndarray
    gt: np.ndarray
    metric: str
    cfg: SweepConfig

    @property
    def dim(self) -> int:
        return int(self.xb.shape[1])

    @property
    def nprobes(self) -> List[int]:
        return [p for p in self.cfg.nprobes if p <= self.cfg.nlist]


ALL_FAMILIES = (
    "adanns-ivf",
    "faiss-flat",
    "faiss-ivfflat",
    "faiss-ivfflat-panorama",
    "faiss-ivf-prefixquant",
    "faiss-opq-ivfpq-rflat",
    "faiss-hnsw",
    "hnswlib",
    "scann",
    "svs-vamana",
)


def make_methods(ctx: Context, families: Sequence[str]) -> List[Method]:
    """The methods to run, in order (AdANNS first, then the peers)."""
    out: List[Method] = []
    d = ctx.dim
    for fam in families:
        if fam == "adanns-ivf":
            out += [AdannsIVF(ctx, c) for c in ctx.cfg.coarse_dims]
        elif fam == "faiss-flat":
            out.append(FaissFlat(ctx))
        elif fam == "faiss-ivfflat":
            out.append(FaissIVFFlat(ctx))
        elif fam == "faiss-ivfflat-panorama":
            out.append(FaissIVFFlatPanorama(ctx))
        elif fam == "faiss-ivf-prefixquant":
            out += [FaissPrefixIVF(ctx, c) for c in ctx.cfg.coarse_dims if c < d]
        elif fam == "faiss-opq-ivfpq-rflat":
            out.append(FaissOPQRefine(ctx))
        elif fam == "faiss-hnsw":
            out.append(FaissHNSW(ctx))
        elif fam == "hnswlib":
            out.append(HnswLib(ctx))
        elif fam == "scann":
            out.append(ScaNN(ctx))
        elif fam == "svs-vamana":
            out.append(SVSVamana(ctx))
        else:
            raise ValueError(f"unknown method {fam!r}; choose from {', '.join(ALL_FAMILIES)}")
    return out


def _time_batch(fn: Callable[[], np.ndarray], min_time: float, repeat: int) -> Tuple[np.ndarray, float]:
    """Runs ``fn`` once; if that took less than ``min_time``, up to ``repeat`` times. Best time."""
    t = time.perf_counter()
    out = fn()
    best = time.perf_counter() - t
    total = best
    for _ in range(repeat - 1):
        if total >= min_time:
            break
        t = time.perf_counter()
        out = fn()
        dt = time.perf_counter() - t
        best, total = min(best, dt), total + dt
    return out, best


def measure(method: Method, ctx: Context, s: Setting) -> Measurement:
    """All the metrics of one setting."""
    cfg, xq, gt = ctx.cfg, ctx.xq, ctx.gt
    ids, t = _time_batch(lambda: method.search(xq, cfg.k, s), cfg.min_time, cfg.repeat)
    madds = method.madds(s, cfg.k)
    r1, r10 = recall(ids, gt, 1), recall(ids, gt, cfg.k)
    r100 = None
    nr = min(cfg.n_recall100, xq.shape[0])
    if nr > 0 and gt.shape[1] >= GT_K and ctx.xb.shape[0] >= GT_K:
        r100 = recall(method.search(xq[:nr], GT_K, s), gt[:nr], GT_K)
    p50 = p99 = None
    ns = min(cfg.n_single, xq.shape[0])
    if ns > 0:
        lat = np.empty(ns)
        method.search(xq[:1], cfg.k, s, single=True)  # warm-up
        for i in range(ns):
            q = xq[i : i + 1]
            t0 = time.perf_counter()
            method.search(q, cfg.k, s, single=True)
            lat[i] = time.perf_counter() - t0
        p50, p99 = float(np.percentile(lat, 50) * 1e3), float(np.percentile(lat, 99) * 1e3)
    return Measurement(method.family_of(s), dict(s), r1, r10, r100, xq.shape[0] / t, t, p50, p99, madds)


def run_method(method: Method, ctx: Context, tmp_root: str) -> MethodReport:
    """Builds and sweeps one method; any failure becomes a ``skipped`` report."""
    rep = MethodReport(method.name, method.family, method.library, "ok", build_params=dict(method.build_params))
    reason = method.check()
    avail = _available_memory()
    need = method.memory_bytes()
    if reason is None and avail is not None and need > 0.85 * avail:
        reason = f"needs ~{need / 2**30:.1f} GiB, {avail / 2**30:.1f} GiB available"
    if reason is not None:
        rep.status, rep.reason = "skipped", reason
        _log(f"[{method.name}] skipped: {reason}")
        return rep
    try:
        _log(f"[{method.name}] building ...")
        t = time.perf_counter()
        method.build()
        rep.build_seconds = time.perf_counter() - t
        rep.name, rep.build_params = method.name, dict(method.build_params)
        _log(f"[{rep.name}] built in {rep.build_seconds:.1f} s")
        d = tempfile.mkdtemp(dir=tmp_root)
        try:
            path = method.serialize(d)
            if path is not None:
                rep.bytes_per_vector = _path_size(path) / ctx.xb.shape[0]
        except Exception as e:  # noqa: BLE001 - size is optional
            _log(f"[{rep.name}] size unavailable: {type(e).__name__}: {e}")
        finally:
            shutil.rmtree(d, ignore_errors=True)
        for series in method.series():
            prev = -1.0
            for s in series:
                m = measure(method, ctx, s)
                rep.results.append(m)
                _log(
                    f"[{rep.name}] {_fmt_params(s):<40} R@10 {m.recall_at_10:.4f}  QPS {m.qps:>9.0f}"
                    f"  p50 {m.latency_p50_ms or 0:.3f} ms"
                )
                # Stop at the target, on a very slow setting, or once more work lowers recall
                # (e.g. a short scan prefix polluted by more probed lists).
                if m.recall_at_10 >= ctx.cfg.stop_recall or m.batch_seconds > ctx.cfg.max_search_s or m.recall_at_10 < prev:
                    break
                prev = m.recall_at_10
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, never fatal
        rep.status, rep.reason = "skipped", f"failed: {type(e).__name__}: {e}"
        _log(f"[{rep.name}] skipped: {rep.reason}")
    finally:
        method.release()
    return rep


# =========================================================================== analysis
def pareto_front(points: Sequence[Tuple[float, float]]) -> List[int]:
    """Indices of the (recall, qps) points not dominated by another point, by recall."""
    order = sorted(range(len(points)), key=lambda i: (-points[i][0], -points[i][1]))
    front: List[int] = []
    best_qps = -1.0
    for i in order:
        if points[i][1] > best_qps:
            front.append(i)
            best_qps = points[i][1]
    return sorted(front, key=lambda i: points[i][0])


def family_points(reports: Sequence[MethodReport]) -> Dict[str, List[Tuple[str, Measurement]]]:
    """All measurements grouped by family (with the name of the index they came from)."""
    out: Dict[str, List[Tuple[str, Measurement]]] = {}
    for rep in reports:
        for m in rep.results:
            out.setdefault(m.family, []).append((rep.name, m))
    return out


def best_at(points: Sequence[Tuple[str, Measurement]], target: float) -> Optional[Tuple[str, Measurement]]:
    """The fastest setting whose recall@10 reaches ``target``."""
    ok = [p for p in points if p[1].recall_at_10 >= target]
    return max(ok, key=lambda p: p[1].qps) if ok else None


def summarize(reports: Sequence[MethodReport], targets: Sequence[float] = TARGETS, ref: str = "adanns-ivf") -> List[Dict[str, Any]]:
    """Rows: at each target, ``ref``'s best QPS over each other family's best QPS."""
    fams = family_points(reports)
    order = [f for f in _family_order(reports) if f != ref]
    rows: List[Dict[str, Any]] = []
    for target in targets:
        mine = best_at(fams.get(ref, []), target)
        for fam in order:
            status = _family_status(reports, fam)
            theirs = best_at(fams.get(fam, []), target) if status == "ok" else None
            row: Dict[str, Any] = {
                "target_recall_at_10": target,
                "method": fam,
                "status": status,
                "adanns_qps": mine[1].qps if mine else None,
                "adanns_setting": {"index": mine[0], **mine[1].params} if mine else None,
                "method_qps": theirs[1].qps if theirs else None,
                "method_setting": {"index": theirs[0], **theirs[1].params} if theirs else None,
                "ratio": (mine[1].qps / theirs[1].qps) if (mine and theirs) else None,
            }
            rows.append(row)
    return rows


def _family_order(reports: Sequence[MethodReport]) -> List[str]:
    seen: List[str] = []
    for rep in reports:
        fams = [rep.family] + [m.family for m in rep.results]
        for f in fams:
            if f not in seen:
                seen.append(f)
    return seen


def _family_status(reports: Sequence[MethodReport], fam: str) -> str:
    reps = [r for r in reports if r.family == fam or any(m.family == fam for m in r.results)]
    if any(r.status == "ok" and any(m.family == fam for m in r.results) for r in reps):
        return "ok"
    reasons = sorted({r.reason or "no results" for r in reps})
    return "skipped: " + "; ".join(reasons) if reasons else "skipped: not run"


# =========================================================================== output
def _fmt_params(s: Setting) -> str:
    return " ".join(f"{k}={v}" for k, v in s.items()) or "-"


def _fmt(x: Optional[float], spec: str) -> str:
    return "-" if x is None else format(x, spec)


def format_table(report: Dict[str, Any]) -> str:
    """A plain-text table: the skipped methods, then the Pareto points of each family."""
    lines = []
    hdr = f"{'method':<26} {'index / setting':<52} {'R@1':>6} {'R@10':>6} {'R@100':>6} {'QPS':>9} {'p50ms':>7} {'p99ms':>7} {'Madd/q':>8} {'build s':>7} {'B/vec':>7}"
    lines.append(hdr)
    lines.append("-" * len(hdr))
    for rep in report["methods"]:
        if rep["status"] != "ok":
            lines.append(f"{rep['family']:<26} {rep['name']:<52} skipped: {rep['reason']}")
    for fam, pts in report["pareto"].items():
        for p in pts:
            r = p["result"]
            madds = None if r["madds_per_query"] is None else r["madds_per_query"] / 1e6
            lines.append(
                f"{fam:<26} {(p['index'] + ' ' + _fmt_params(r['params']))[:52]:<52} {r['recall_at_1']:>6.3f} {r['recall_at_10']:>6.3f} "
                f"{_fmt(r['recall_at_100'], '6.3f'):>6} {r['qps']:>9.0f} {_fmt(r['latency_p50_ms'], '7.3f'):>7} {_fmt(r['latency_p99_ms'], '7.3f'):>7} "
                f"{_fmt(madds, '8.3f'):>8} {_fmt(p['build_seconds'], '7.1f'):>7} {_fmt(p['bytes_per_vector'], '7.1f'):>7}"
            )
    return "\n".join(lines)


def format_summary(report: Dict[str, Any]) -> str:
    """The ratio table: AdANNS best QPS / peer best QPS at each recall@10 target."""
    lines = [f"{'recall@10':>9}  {'vs method':<26} {'adanns QPS':>10} {'method QPS':>10} {'ratio':>7}"]
    for row in report["summary"]:
        if row["status"] != "ok":
            lines.append(f"{row['target_recall_at_10']:>9.2f}  {row['method']:<26} {row['status']}")
            continue
        lines.append(
            f"{row['target_recall_at_10']:>9.2f}  {row['method']:<26} {_fmt(row['adanns_qps'], '10.0f'):>10} "
            f"{_fmt(row['method_qps'], '10.0f'):>10} {_fmt(row['ratio'], '7.2f'):>7}"
        )
    return "\n".join(lines)


def plot(report: Dict[str, Any], path: str) -> Optional[str]:
    """Recall@10-vs-QPS Pareto fronts as a PNG; returns a reason string if matplotlib is missing."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as e:
        return f"matplotlib not installed ({e})"
    fig, ax = plt.subplots(figsize=(9, 6))
    markers = "os^vD<>phX*"
    for i, (fam, pts) in enumerate(report["pareto"].items()):
        xs = [p["result"]["recall_at_10"] for p in pts]
        ys = [p["result"]["qps"] for p in pts]
        bold = fam.startswith("adanns")
        ax.plot(xs, ys, marker=markers[i % len(markers)], lw=2.5 if bold else 1.2, ms=5, label=fam, zorder=3 if bold else 2)
    ax.set_yscale("log")
    ax.set_xlabel("recall@10")
    ax.set_ylabel("queries per second (batch, all cores)")
    ds = report["dataset"]
    ax.set_title(f"{ds['name']}: {ds['n_base']} x {ds['dim']}, {ds['n_query']} queries, {ds['metric']}" + (", PCA" if ds["pca"] else ""))
    lo = min([p["result"]["recall_at_10"] for pts in report["pareto"].values() for p in pts] or [0.5])
    ax.set_xlim(max(0.5, lo - 0.02), 1.001)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return None


def render_markdown(report: Dict[str, Any], image: Optional[str] = None) -> str:
    """A markdown section for one dataset: setup, summary ratios, Pareto table, skipped peers."""
    ds, env = report["dataset"], report["environment"]
    out = [f"### {ds['name']}", ""]
    out.append(
        f"{ds['n_base']:,} base vectors x {ds['dim']} dims, {ds['n_query']:,} queries, metric `{ds['metric']}`"
        f"{', PCA-rotated (no centering)' if ds['pca'] and not ds.get('pca_center') else (', PCA-rotated' if ds['pca'] else '')}; "
        f"nlist {report['config']['nlist']}; {env['cpu_count']} cores ({env['cpu']}); "
        f"total run {report['total_seconds']:.0f} s{' (--quick)' if report['config']['quick'] else ''}."
    )
    out += ["", "AdANNS best QPS / peer best QPS at a recall@10 target (best setting reaching it):", ""]
    out.append("| vs method | ratio @0.90 | ratio @0.95 | adanns QPS @0.90 / @0.95 | peer QPS @0.90 / @0.95 |")
    out.append("|---|---:|---:|---:|---:|")
    by: Dict[str, Dict[float, Dict[str, Any]]] = {}
    for row in report["summary"]:
        by.setdefault(row["method"], {})[row["target_recall_at_10"]] = row
    for fam, rows in by.items():
        r90, r95 = rows.get(0.90, {}), rows.get(0.95, {})
        if r90.get("status", "ok") != "ok":
            out.append(f"| {fam} | {r90['status']} | | | |")
            continue

        def q(r: Dict[str, Any], key: str) -> str:
            return "not reached" if r.get(key) is None else f"{r[key]:,.0f}"

        def ratio(r: Dict[str, Any]) -> str:
            return "n/a" if r.get("ratio") is None else f"**{r['ratio']:.2f}x**"

        out.append(f"| {fam} | {ratio(r90)} | {ratio(r95)} | {q(r90, 'adanns_qps')} / {q(r95, 'adanns_qps')} | {q(r90, 'method_qps')} / {q(r95, 'method_qps')} |")
    if image:
        out += ["", f"![{ds['name']} recall vs QPS]({image})"]
    out += ["", "Pareto-optimal settings of each method:", ""]
    out.append("| method | index / setting | R@1 | R@10 | R@100 | QPS | p50 ms | p99 ms | Madd/query | build s | bytes/vec |")
    out.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for fam, pts in report["pareto"].items():
        for p in pts:
            r = p["result"]
            madds = None if r["madds_per_query"] is None else r["madds_per_query"] / 1e6
            out.append(
                f"| {fam} | {p['index']} {_fmt_params(r['params'])} | {r['recall_at_1']:.3f} | {r['recall_at_10']:.3f} | "
                f"{_fmt(r['recall_at_100'], '.3f')} | {r['qps']:,.0f} | {_fmt(r['latency_p50_ms'], '.3f')} | {_fmt(r['latency_p99_ms'], '.3f')} | "
                f"{_fmt(madds, '.3f')} | {_fmt(p['build_seconds'], '.1f')} | {_fmt(p['bytes_per_vector'], '.1f')} |"
            )
    skipped = [m for m in report["methods"] if m["status"] != "ok"]
    if skipped:
        out += ["", "Skipped:", ""]
        out += [f"- `{m['name']}`: skipped: {m['reason']}" for m in skipped]
    return "\n".join(out) + "\n"


def build_report(ds_info: Dict[str, Any], cfg: SweepConfig, quick: bool, gt_info: Dict[str, Any], reports: List[MethodReport], total: float) -> Dict[str, Any]:
    """The JSON document of a run (schema in docs/benchmarks.md)."""
    fams = family_points(reports)
    index_meta = {r.name: r for r in reports}
    pareto: Dict[str, List[Dict[str, Any]]] = {}
    for fam in _family_order(reports):
        pts = fams.get(fam, [])
        if not pts:
            continue
        front = pareto_front([(m.recall_at_10, m.qps) for _, m in pts])
        pareto[fam] = [
            {
                "index": pts[i][0],
                "build_seconds": index_meta[pts[i][0]].build_seconds,
                "bytes_per_vector": index_meta[pts[i][0]].bytes_per_vector,
                "result": asdict(pts[i][1]),
            }
            for i in front
        ]
    return {
        "schema_version": SCHEMA_VERSION,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "dataset": ds_info,
        "environment": _environment(),
        "config": {**asdict(cfg), "quick": quick, "targets": list(TARGETS)},
        "ground_truth": gt_info,
        "total_seconds": total,
        "methods": [asdict(r) for r in reports],
        "pareto": pareto,
        "summary": summarize(reports),
    }


def _environment() -> Dict[str, Any]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        from . import simd_level

        simd = simd_level()
    except Exception:  # noqa: BLE001
        simd = None
    return {
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "adanns_simd": simd,
        "versions": {p: _version(p) for p in ("adanns", "numpy", "faiss-cpu", "hnswlib", "scann", "scalable-vs")},
    }


# =========================================================================== data
def prepare_data(args: argparse.Namespace) -> Tuple[np.ndarray, np.ndarray, str, Dict[str, Any]]:
    """Loads, subsamples, normalises (cosine) and PCA-rotates (``--pca``) the dataset."""
    from .datasets import load_dataset

    spec = args.dataset
    quick = bool(args.quick)
    n_query = args.n_query if args.n_query is not None else (1_000 if quick else 10_000)
    if spec.startswith("synthetic") and quick and spec.count(":") < 1:
        spec = "synthetic:50000:64"
    _log(f"loading {spec} ...")
    t = time.perf_counter()
    ds = load_dataset(spec, queries=args.queries, n_query=n_query, metric=args.metric, seed=args.seed)
    xb, xq, metric = ds.xb, ds.xq, ds.metric
    max_base = args.max_base if args.max_base is not None else (50_000 if quick else None)
    if max_base is not None and xb.shape[0] > max_base:
        xb = xb[:max_base]
    if xq.shape[0] > n_query:
        xq = xq[:n_query]
    xb = np.ascontiguousarray(xb, dtype=np.float32)
    xq = np.ascontiguousarray(xq, dtype=np.float32)
    if metric == "cosine":
        # Normalised once, so every engine (inner product on unit vectors) sees the same data.
        for a in (xb, xq):
            norms = np.linalg.norm(a, axis=1, keepdims=True)
            norms[norms == 0] = 1.0
            np.divide(a, norms, out=a)
    use_pca = args.pca == "on" or (args.pca == "auto" and not spec.startswith("synthetic"))
    pca_info: Dict[str, Any] = {"pca": use_pca, "pca_center": False}
    if use_pca:
        from .transforms import PCATransform

        tr = PCATransform.for_metric(metric, seed=args.seed).fit(xb)
        xb, xq = tr.apply(xb), tr.apply(xq)
        frac = tr.energy_fraction()
        d = xb.shape[1]
        pca_info = {
            "pca": True,
            "pca_center": tr.center,
            "energy_fraction": {str(p): float(frac[p - 1]) for p in sorted({max(1, d // 8), max(1, d // 4), max(1, d // 2), d})},
        }
    info = {
        "name": ds.name,
        "spec": args.dataset,
        "n_base": int(xb.shape[0]),
        "n_query": int(xq.shape[0]),
        "dim": int(xb.shape[1]),
        "metric": metric,
        "seed": args.seed,
        "load_seconds": time.perf_counter() - t,
        **pca_info,
    }
    _log(f"dataset {ds.name}: {xb.shape[0]} x {xb.shape[1]}, {xq.shape[0]} queries, {metric}" + (", PCA-rotated" if use_pca else ""))
    return xb, xq, metric, info


def _ints(text: Optional[str]) -> Optional[List[int]]:
    if text is None:
        return None
    vals = [int(v) for v in re.split(r"[,\s]+", text.strip()) if v]
    if not vals or min(vals) < 1:
        raise ValueError(f"expected a comma-separated list of positive integers, got {text!r}")
    return vals


def make_config(args: argparse.Namespace, n: int, d: int) -> SweepConfig:
    """Sweep grids for the data size: the full grid, or a few settings with ``--quick``."""
    cfg = SweepConfig(seed=args.seed)
    if args.quick:
        cfg.nprobes = [2, 8, 32, 128]
        cfg.rerank_ks = [100]
        cfg.efs = [16, 64, 256]
        cfg.k_factors = [8]
        cfg.scann_reorder = [100]
        cfg.n_single = 50
        cfg.n_recall100 = 200
        cfg.repeat = 5
        cfg.min_time = 0.2
        cfg.opq_niter = 4
    cfg.nlist = args.nlist or default_nlist(n)
    dims = sorted({c for c in (d // 4, d // 2, d) if c >= min(8, d)})
    cfg.coarse_dims = _ints(args.coarse_dims) or ([dims[-2] if len(dims) > 1 else d, d] if args.quick else dims)
    cfg.scan_dims = _ints(args.scan_dims) or ([max(1, d // 2)] if args.quick else sorted({max(1, d // 4), max(1, d // 2)}))
    cfg.nprobes = _ints(args.nprobes) or cfg.nprobes
    cfg.rerank_ks = _ints(args.rerank_ks) or cfg.rerank_ks
    cfg.efs = _ints(args.efs) or cfg.efs
    if args.n_single is not None:
        cfg.n_single = args.n_single
    cfg.stop_recall = args.stop_recall
    cfg.threads = args.threads or (os.cpu_count() or 1)
    if any(c > d for c in cfg.coarse_dims + cfg.scan_dims):
        raise ValueError(f"coarse/scan dims must be <= {d}")
    return cfg


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "dataset"


# =========================================================================== CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``adanns bench``."""
    p.add_argument("--dataset", default="glove-50", help="glove-50, synthetic[:N:D], or a .npy/.fvecs/.bvecs/.hdf5 file")
    p.add_argument("--queries", help="query file for a vector-file dataset (default: hold out --n-query rows)")
    p.add_argument("--metric", choices=["l2", "ip", "cosine"], help="override the dataset's metric")
    p.add_argument("--n-query", type=int, help="queries (default 10000; 1000 with --quick)")
    p.add_argument("--max-base", type=int, help="use only the first N base vectors (default: all; 50000 with --quick)")
    p.add_argument("--pca", choices=["auto", "on", "off"], default="auto", help="PCA rotation (auto: on unless synthetic)")
    p.add_argument("--methods", help=f"comma-separated subset of: {', '.join(ALL_FAMILIES)} (default: all)")
    p.add_argument("--skip", help="comma-separated methods to leave out")
    p.add_argument("--nlist", type=int, help="lists of every IVF method (default ~4 sqrt(n))")
    p.add_argument("--nprobes", help="nprobe / leaves-to-search sweep, e.g. 1,4,16,64")
    p.add_argument("--coarse-dims", help="AdANNS coarse_dim values (default d/4, d/2, d)")
    p.add_argument("--scan-dims", help="AdANNS scan_dim values below d (default d/4, d/2)")
    p.add_argument("--rerank-ks", help="AdANNS rerank_k values for the reduced scans (default 50,200)")
    p.add_argument("--efs", help="HNSW efSearch / SVS search window sweep")
    p.add_argument("--stop-recall", type=float, default=0.995, help="stop a sweep once recall@10 reaches this")
    p.add_argument("--n-single", type=int, help="single-query latency samples (default 200; 50 with --quick)")
    p.add_argument("--threads", type=int, help="threads for batch search (default: all cores)")
    p.add_argument("--seed", type=int, default=0, help="seed of the query split, PCA sample and k-means")
    p.add_argument("--cache-dir", default=os.environ.get("ADANNS_CACHE", ".adanns_cache"), help="ground-truth cache (default .adanns_cache/)")
    p.add_argument("--out", help="JSON output (default bench_results/<dataset>.json)")
    p.add_argument("--plot", help="PNG output (default: next to the JSON)")
    p.add_argument("--markdown", help="also write a markdown section to this file")
    p.add_argument("--no-plot", action="store_true", help="do not draw the PNG")
    p.add_argument("--quick", action="store_true", help="small subset and few settings (about a minute)")
    p.add_argument("--gpu", action="store_true",
                   help="the GPU benchmark instead (CUDA build, a GPU and PyTorch needed; adanns/gpu_bench.py)")


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark described by ``args``; prints the tables, writes JSON/PNG. Returns 0."""
    if getattr(args, "gpu", False):
        from .gpu_bench import run_gpu

        return run_gpu(args)
    t0 = time.perf_counter()
    xb, xq, metric, ds_info = prepare_data(args)
    n, d = xb.shape
    cfg = make_config(args, n, d)
    families = [f.strip() for f in (args.methods or ",".join(ALL_FAMILIES)).split(",") if f.strip()]
    skip = {f.strip() for f in (args.skip or "").split(",") if f.strip()}
    families = [f for f in families if f not in skip]
    if "adanns-ivf" not in families:
        families.insert(0, "adanns-ivf")
    gt, gt_info = cached_ground_truth(xb, xq, metric, min(GT_K, n), args.cache_dir)
    ctx = Context(xb, xq, gt, metric, cfg)
    methods = make_methods(ctx, families)
    reports: List[MethodReport] = []
    tmp_root = tempfile.mkdtemp(prefix="adanns-bench-")
    try:
        for i, m in enumerate(methods):
            _log(f"== {i + 1}/{len(methods)} {m.name}  ({time.perf_counter() - t0:.0f} s elapsed)")
            reports.append(run_method(m, ctx, tmp_root))
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)
    report = build_report(ds_info, cfg, bool(args.quick), gt_info, reports, time.perf_counter() - t0)

    out = args.out or os.path.join("bench_results", f"{_slug(ds_info['name'])}{'-quick' if args.quick else ''}.json")
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    png = None
    if not args.no_plot:
        png = args.plot or os.path.splitext(out)[0] + ".png"
        why = plot(report, png)
        if why:
            report["plot"] = f"skipped: {why}"
            png = None
        else:
            report["plot"] = png
    with open(out, "w") as f:
        json.dump(report, f, indent=1, default=_json_default)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render_markdown(report, png))

    _log("")
    _log(format_table(report))
    _log("")
    _log(format_summary(report))
    _log("")
    _log(f"results: {out}" + (f", plot: {png}" if png else "") + f"  ({report['total_seconds']:.0f} s)")
    return 0


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer,)):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    raise TypeError(f"not JSON serialisable: {type(o)}")


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``python -m adanns.benchmark`` (same as ``adanns bench``)."""
    p = argparse.ArgumentParser(prog="adanns bench", description=__doc__.splitlines()[0])
    add_arguments(p)
    return run(p.parse_args(argv))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
