"""``adanns bench`` / ``python -m adanns.bench``: options and the run."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
import time
from typing import List, Optional, Sequence

from .._validation import check_options
from .config import GT_K, Context, MethodReport, make_config, log
from .data import cached_ground_truth, prepare_data
from .gpu import run_gpu
from .measure import run_method
from .methods import ALL_FAMILIES, REGISTRY, check_families, make_methods
from .report import build_report, format_summary, format_table, plot, render_markdown, write_json


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "dataset"


# =========================================================================== CLI
def add_arguments(p: argparse.ArgumentParser) -> None:
    """Options of ``adanns bench``."""
    p.add_argument("--dataset", default="glove-50", help="glove-50, synthetic[:N:D], npy:PATH (an embedding matrix, e.g. float16; "
                   "metric cosine unless --metric, queries held out with --seed), or a .npy/.fvecs/.bvecs/.hdf5 file")
    p.add_argument("--queries", help="query file for a vector-file dataset (default: hold out --n-query rows)")
    p.add_argument("--metric", choices=["l2", "ip", "cosine"], help="override the dataset's metric")
    p.add_argument("--n-query", type=int, help="queries (default 10000; 1000 with --quick)")
    p.add_argument("--max-base", type=int, help="use only the first N base vectors (default: all; 50000 with --quick)")
    p.add_argument("--pca", choices=["auto", "on", "off"], default="auto", help="PCA rotation (auto: on unless synthetic)")
    p.add_argument("--methods", help=f"comma-separated subset of: {', '.join(REGISTRY)} (default: all but adanns-ivfpq)")
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
    p.add_argument("--gpu", action="store_true",
                   help="the GPU benchmark instead (CUDA build, a GPU and PyTorch needed; adanns/bench/gpu.py)")
    p.add_argument("--quick", action="store_true", help="small subset and few settings (50k base vectors, 1k queries; measured 9.5 minutes with "
                   "every peer on a shared, busy 2-core machine: docs/benchmarks.md)")


def families_of(args: argparse.Namespace) -> List[str]:
    """The method families to run (``--methods`` minus ``--skip``, adanns-ivf always first);
    unknown names raise ValueError."""
    families = [f.strip() for f in (args.methods or ",".join(ALL_FAMILIES)).split(",") if f.strip()]
    skip = [f.strip() for f in (args.skip or "").split(",") if f.strip()]
    check_families(families + skip)
    families = [f for f in families if f not in skip]
    if "adanns-ivf" not in families:
        families.insert(0, "adanns-ivf")
    return families


def check_args(args: argparse.Namespace) -> None:
    """Every numeric option and method name, before any data is loaded."""
    check_options(vars(args), {"n_query": (1, None), "max_base": (1, None), "nlist": (1, 1 << 31),
                               "n_single": (0, None), "threads": (1, None), "seed": (0, None)})
    if not 0.0 < args.stop_recall <= 1.0:
        raise ValueError(f"--stop-recall must be in (0, 1], got {args.stop_recall}")


def run(args: argparse.Namespace) -> int:
    """Runs the benchmark described by ``args``; prints the tables, writes JSON/PNG. Returns 0."""
    if getattr(args, "gpu", False):
        return run_gpu(args)
    t0 = time.perf_counter()
    check_args(args)
    families = families_of(args)
    xb, xq, metric, ds_info = prepare_data(args)
    n, d = xb.shape
    cfg = make_config(args, n, d)
    gt, gt_info = cached_ground_truth(xb, xq, metric, min(GT_K, n), args.cache_dir)
    ctx = Context(xb, xq, gt, metric, cfg)
    methods = make_methods(ctx, families)
    reports: List[MethodReport] = []
    tmp_root = tempfile.mkdtemp(prefix="adanns-bench-")
    try:
        for i, m in enumerate(methods):
            log(f"== {i + 1}/{len(methods)} {m.name}  ({time.perf_counter() - t0:.0f} s elapsed)")
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
            log(f"warning: plot skipped: {why} (pip install matplotlib, or pass --no-plot)")
            png = None
        else:
            report["plot"] = png
    write_json(out, report)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(render_markdown(report, png))

    log("")
    log(format_table(report))
    log("")
    log(format_summary(report))
    log("")
    log(f"results: {out}" + (f", plot: {png}" if png else "") + f"  ({report['total_seconds']:.0f} s)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adanns bench", description="recall / QPS benchmark of AdANNS against Faiss "
                                "and other engines (docs/benchmarks.md)")
    add_arguments(p)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """``adanns bench`` / ``python -m adanns.bench``: errors in the input are one line on stderr
    and exit status 2."""
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"adanns bench: error: {e}", file=sys.stderr)
        return 2
