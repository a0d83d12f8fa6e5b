"""The measured trade-offs of docs/choosing-parameters.md: recall@10 and batch QPS as each knob
of an IVF index moves, on real embeddings (not a test; the tables are printed as markdown).

Fixed seed split: 1,000 queries held out, the rest is the base. Inner product, PCA ordering
(``transform="pca"``) unless stated. Every table varies one knob around a middle setting;
QPS is the median of ``--rounds`` interleaved batch searches of all the queries.

    python benchmarks/param_sweep.py --dataset ../shared/data/docs_minilm384_f16.npy
"""

from __future__ import annotations

import argparse
import time

import numpy as np

import adanns
from adanns.evaluation import ground_truth, recall_at_k


def measure(index, xq, gt, settings, rounds, k=10):
    """(recall@k, median QPS, thread time per query in us) per setting, timings interleaved over
    ``rounds`` rounds. Thread time (``SearchStats``, summed over the threads) counts only the
    time the search threads ran, so it is far less disturbed by other load than wall time;
    the smallest of the rounds is kept."""
    rng = np.random.default_rng(0)
    times = [[] for _ in settings]
    cpu = [[] for _ in settings]
    recalls = []
    for s in settings:
        recalls.append(recall_at_k(index.search(xq, k, **s)[1], gt, k))
    for _ in range(rounds):
        for i in rng.permutation(len(settings)):
            st = adanns.SearchStats()
            t = time.perf_counter()
            index.search(xq, k, stats=st, **settings[i])
            times[i].append(time.perf_counter() - t)
            cpu[i].append(sum(st.per_query_us().values()))
    return [(r, xq.shape[0] / float(np.median(t)), min(c)) for r, t, c in zip(recalls, times, cpu)]


def table(title, knob, rows):
    print(f"\n#### {title}\n\n| {knob} | recall@10 | QPS (wall) | thread µs/query |\n|---|---|---|---|")
    for v, (r, q, c) in rows:
        print(f"| {v} | {r:.4f} | {q:,.0f} | {c:,.0f} |")


def build(xb, nlist, coarse_dim=None, transform="pca"):
    t = time.perf_counter()
    index = adanns.IVFIndex(xb.shape[1], nlist, coarse_dim=coarse_dim, metric="ip", transform=transform, seed=1)
    index.train(xb, progress=False)
    index.add(xb, progress=False)
    return index, time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dataset", required=True)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    x = np.ascontiguousarray(np.load(args.dataset, mmap_mode="r"), dtype=np.float32)
    perm = np.random.default_rng(0).permutation(x.shape[0])
    xq, xb = x[perm[:1000]], x[perm[1000:]]
    dim = x.shape[1]
    gt = ground_truth(xb, xq, 10, "ip")
    R = args.rounds
    print(f"base {xb.shape[0]} x {dim}, 1000 queries, inner product")

    index, t = build(xb, 1233)
    print(f"\nbuild nlist=1233 (PCA): {t:.0f} s")
    nprobes = [4, 8, 16, 32, 64, 128]
    table("nprobe (nlist 1233, full scan, no rerank)", "nprobe",
          zip(nprobes, measure(index, xq, gt, [dict(nprobe=p) for p in nprobes], R)))
    sds = [48, 96, 192, 288, 384]
    table("scan_dim (nprobe 32, no rerank)", "scan_dim",
          zip(sds, measure(index, xq, gt, [dict(nprobe=32, scan_dim=s) for s in sds], R)))
    rks = [0, 20, 50, 100, 200]
    table("rerank_k (nprobe 32, scan_dim 96; rerank on all 384 dims)", "rerank_k",
          zip(rks, measure(index, xq, gt, [dict(nprobe=32, scan_dim=96, rerank_k=r) for r in rks], R)))
    table("rerank_k (nprobe 32, scan_dim 192)", "rerank_k",
          zip(rks, measure(index, xq, gt, [dict(nprobe=32, scan_dim=192, rerank_k=r) for r in rks], R)))
    pds = [48, 96, 192, 384]
    table("probe_dim (coarse_dim 384, nprobe 32)", "probe_dim",
          zip(pds, measure(index, xq, gt, [dict(nprobe=32, probe_dim=p) for p in pds], R)))

    rows = []
    for nlist, p in ((300, 8), (1233, 32), (2500, 64)):
        idx = index if nlist == 1233 else build(xb, nlist)[0]
        for pp in (p // 2, p, 2 * p):
            rows.append((f"{nlist} (nprobe {pp}, {100 * pp / nlist:.1f}% of lists)",
                         measure(idx, xq, gt, [dict(nprobe=pp)], R)[0]))
    table("nlist (the same fractions of the lists probed)", "nlist", rows)

    idx96, t = build(xb, 1233, coarse_dim=96)
    rows = [("384 (nprobe 32)", measure(index, xq, gt, [dict(nprobe=32)], R)[0])]
    rows += [(f"96 (nprobe {p})", r) for p, r in zip((32, 64), measure(idx96, xq, gt, [dict(nprobe=32), dict(nprobe=64)], R))]
    table(f"coarse_dim (clustering prefix; nlist 1233, build {t:.0f} s at 96)", "coarse_dim", rows)

    raw, _ = build(xb, 1233, transform=None)
    rows = []
    for name, idx in (("PCA", index), ("none", raw)):
        for s in (dict(nprobe=32), dict(nprobe=32, scan_dim=96, rerank_k=100), dict(nprobe=32, scan_dim=48, rerank_k=200)):
            rows.append((f"{name}: {s}", measure(idx, xq, gt, [s], R)[0]))
    table("PCA ordering for a non-Matryoshka model (MiniLM)", "transform, setting", rows)


if __name__ == "__main__":
    main()
