"""ShardedIndex on a local Ray cluster: 1, 2 and 4 shards against one in-process index.

Measures, all in one run on this machine: build time (train on the driver, add inside the
actors from object refs), batch QPS, single-query latency p50/p99, and the fan-out/merge
overhead per query (round trip minus the slowest shard's time inside its index), plus the
bytes per shard and per query that docs/sharding.md's capacity model is built from.

    python benchmarks/sharded.py [--n 200000] [--dim 128] [--out docs/results/sharded.json]

Needs ``pip install ".[ray]"``. On a 2-core machine the shards share the two cores: the
figures show the cost of sharding (fan-out, merge, object-store copies), not a speed-up,
which needs one machine (or one set of cores) per shard.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

import numpy as np
import ray

import adanns
from adanns.datasets import synthetic_matryoshka


def _pct(a, q):
    return float(np.percentile(np.asarray(a) * 1e3, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=200_000)
    ap.add_argument("--dim", type=int, default=128)
    ap.add_argument("--nlist", type=int, default=512)
    ap.add_argument("--coarse-dim", type=int, default=32)
    ap.add_argument("--nq", type=int, default=2000, help="queries of the batch QPS run")
    ap.add_argument("--nlat", type=int, default=300, help="single-query searches for the latency run")
    ap.add_argument("--shards", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--cores", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--out", default="docs/results/sharded.json")
    args = ap.parse_args()

    x = synthetic_matryoshka(args.n + args.nq, args.dim, n_clusters=1024, noise=0.8, seed=0)
    xb, xq = x[args.nq:], np.ascontiguousarray(x[: args.nq])
    sample = xb[:: max(1, args.n // (args.nlist * 64))]
    settings = {
        "scan nprobe=16": dict(nprobe=16),
        "nprobe=16, scan_dim=dim/4, rerank 100 (exact merge)": dict(nprobe=16, scan_dim=args.dim // 4,
                                                                    rerank_k=100),
        "nprobe=16, scan_dim=dim/4, rerank 100 (local rerank)": dict(nprobe=16, scan_dim=args.dim // 4,
                                                                     rerank_k=100, exact_rerank=False),
    }
    k = 10
    cwd = os.getcwd()
    os.chdir(tempfile.mkdtemp())  # keep the source folder off the workers' sys.path
    ray.init(num_cpus=args.cores, include_dashboard=False, log_to_driver=False)
    os.chdir(cwd)

    # one index in this process, with all cores: the reference
    single = adanns.IVFIndex(args.dim, args.nlist, args.coarse_dim, "l2")
    t0 = time.perf_counter()
    single.train(sample)
    t_train = time.perf_counter() - t0
    t0 = time.perf_counter()
    single.add(xb)
    t_add = time.perf_counter() - t0
    exact = adanns.FlatIndex(args.dim)
    exact.add(xb)
    _, gt = exact.search(xq, k)
    del exact
    results = {"n": args.n, "dim": args.dim, "nlist": args.nlist, "coarse_dim": args.coarse_dim,
               "nq": args.nq, "k": k, "cores": args.cores, "settings": settings, "rows": []}

    def measure(search, name, shards, build):
        for sname, kw in settings.items():
            if not shards and "exact_rerank" in kw:
                continue  # a sharded-only option
            D, I = search(xq, k, **kw)
            recall = float(np.mean([len(set(a) & set(b)) for a, b in zip(I, gt)]) / k)
            best = 1e9
            for _ in range(3):
                t0 = time.perf_counter()
                search(xq, k, **kw)
                best = min(best, time.perf_counter() - t0)
            lat, over, merge = [], [], []
            for i in range(args.nlat):
                q = xq[i : i + 1]
                t0 = time.perf_counter()
                out = search(q, k, **kw, **({"return_timings": True} if shards else {}))
                lat.append(time.perf_counter() - t0)
                if shards:
                    tm = out[2]
                    over.append(lat[-1] - max(tm["shards"]))
                    merge.append(tm["merge"])
            row = {"index": name, "shards": shards, "settings": sname, "recall@10": recall,
                   "qps_batch": args.nq / best, "p50_ms": _pct(lat, 50), "p99_ms": _pct(lat, 99), **build}
            if shards:
                row.update({"overhead_p50_ms": _pct(over, 50), "overhead_p99_ms": _pct(over, 99),
                            "merge_p50_ms": _pct(merge, 50)})
            results["rows"].append(row)
            print(json.dumps(row), flush=True)

    measure(single.search, "IVFIndex (in process)", 0, {"train_s": t_train, "add_s": t_add})

    blocks = [ray.put(b) for b in np.array_split(xb, 8)]  # the data set, in the object store
    for s in args.shards:
        threads = max(1, args.cores // s)
        opts = {"num_cpus": 0, "runtime_env": {"env_vars": {"OMP_NUM_THREADS": str(threads)}}}
        t0 = time.perf_counter()
        index = adanns.ShardedIndex(adanns.IVFIndex, shards=s, dim=args.dim, nlist=args.nlist,
                                    coarse_dim=args.coarse_dim, actor_options=opts)
        index.train(sample)
        t_train = time.perf_counter() - t0
        t0 = time.perf_counter()
        index.add_refs(blocks)
        t_add = time.perf_counter() - t0
        with tempfile.TemporaryDirectory() as d:
            index.save(d)
            sizes = [os.path.getsize(os.path.join(d, f)) for f in os.listdir(d) if f.endswith(".adanns")]
        build = {"train_s": t_train, "add_s": t_add, "threads_per_shard": threads,
                 "shard_file_bytes_max": max(sizes), "vectors_per_shard_max": int(index.shard_sizes().max())}
        measure(index.search, f"ShardedIndex x{s}", s, build)
        index.close()

    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print("\n| index | settings | recall@10 | build s (train+add) | batch QPS | p50 ms | p99 ms | fan-out+merge p50 / p99 ms |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for r in results["rows"]:
        ov = f"{r['overhead_p50_ms']:.2f} / {r['overhead_p99_ms']:.2f}" if r["shards"] else "-"
        print(f"| {r['index']} | {r['settings']} | {r['recall@10']:.4f} | {r['train_s']:.1f}+{r['add_s']:.1f} | "
              f"{r['qps_batch']:,.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {ov} |")


if __name__ == "__main__":
    main()
