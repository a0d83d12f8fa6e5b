"""Configuration and records of a benchmark run: sweep grids, the data every method indexes,
measurements and method reports (the JSON schema in docs/benchmarks.md)."""

from __future__ import annotations

import argparse
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

import numpy as np

SCHEMA_VERSION = 1
TARGETS = (0.90, 0.95)
K = 10  # the k of the timed searches (recall@10 vs QPS)
GT_K = 100

Setting = Dict[str, Any]


def log(msg: str) -> None:
    print(msg, flush=True)


def default_nlist(n: int) -> int:
    """About 4 sqrt(n) lists, a multiple of 16 in [16, 4096] (as ``adanns run``)."""
    return int(max(16, min(4096, 4 * np.sqrt(n)) // 16 * 16))


def nearest_divisor(d: int, target: float, lo: int = 1) -> int:
    divs = [m for m in range(max(1, lo), d + 1) if d % m == 0]
    return min(divs, key=lambda m: (abs(m - target), m))


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
    if cfg.nlist > n:
        raise ValueError(f"--nlist {cfg.nlist} is more than the {n} base vectors")
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
