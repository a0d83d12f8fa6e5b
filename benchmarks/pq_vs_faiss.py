"""AdANNS-(IVF)(O)PQ measurements (issue 4), all timings taken in one run.

(a) prefix vs all-dims PQ: exhaustive PQIndex (no rerank) at M = 8 and 16 bytes, recall@10 of
    PQ trained on a prefix of pq_dim dims against PQ on all dims, on a seeded synthetic
    Matryoshka dataset and on GloVe-50 made prefix-friendly by a PCA rotation.
(b) IVF-OPQ + exact rerank on GloVe-50 (cosine, 390k base, 10k queries) against Faiss
    ``OPQ{m},IVF{nlist},PQ{m},RFlat`` (inner product on normalised data), same nprobe and
    shortlist grid for both; best QPS at recall@10 >= target, and memory per vector.

    python benchmarks/pq_vs_faiss.py [--part a|b|ab] [--out docs/results/pq_vs_faiss.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import adanns
from adanns.datasets import load_glove50, make_synthetic
from adanns.bench.report import write_json
from adanns.evaluation import ground_truth, recall_at_k, timed


def part_a(args):
    rows = []
    sets = []
    ds = make_synthetic(100_000, 1_000, 128, seed=0)
    sets.append(("synthetic-100k x 128 (l2)", ds.xb, ds.xq, "l2", [16, 32, 48, 64, 128], [16, 32, 64, 128]))
    g = load_glove50(n_query=args.a_queries, seed=0)
    try:
        from adanns.transforms import PCATransform

        pca = PCATransform.for_metric("cosine").fit(g.xb)
        gxb, gxq, name = pca.apply(g.xb), pca.apply(g.xq), "glove-50 PCA-ordered (cosine)"
    except ImportError:  # pragma: no cover
        gxb, gxq, name = g.xb, g.xq, "glove-50 (cosine)"
    # 50 is not a multiple of 8 or 16: "all dims" is the largest multiple (48 of 50 PCA dims).
    sets.append((name, gxb, gxq, "cosine", [16, 24, 32, 40, 48], [16, 32, 48]))
    for name, xb, xq, metric, p8, p16 in sets:
        gt = ground_truth(xb, xq, 10, metric)
        for m, prefixes in ((8, p8), (16, p16)):
            for opq in (False, True):
                for p in prefixes:
                    if p % m:
                        continue
                    idx = adanns.PQIndex(xb.shape[1], pq_dim=p, m=m, opq=opq, metric=metric, keep_full=None, seed=1)
                    idx.train(xb)
                    idx.add(xb)
                    _, I = idx.search(xq, 10)
                    r = recall_at_k(I, gt, 10)
                    rows.append(dict(dataset=name, m=m, opq=opq, pq_dim=p, recall10=r))
                    print(f"[a] {name:32s} M={m:2d} opq={opq!s:5s} pq_dim={p:3d}: recall@10 {r:.4f}", flush=True)
    return rows


def part_b(args):
    import faiss

    ds = load_glove50(n_query=10_000, seed=0)
    xb, xq = ds.xb, ds.xq
    n, d = xb.shape
    gt = ground_truth(xb, xq, 10, "cosine")
    m, nlist = args.m, args.nlist
    out = dict(m=m, nlist=nlist, rows=[])

    xbn, xqn = xb.copy(), xq.copy()
    faiss.normalize_L2(xbn)
    faiss.normalize_L2(xqn)
    t = time.perf_counter()
    fidx = faiss.index_factory(d, f"OPQ{m},IVF{nlist},PQ{m},RFlat", faiss.METRIC_INNER_PRODUCT)
    fidx.train(xbn)
    fidx.add(xbn)
    out["build_s_faiss"] = time.perf_counter() - t
    refine = faiss.downcast_index(fidx)
    ivf = faiss.extract_index_ivf(fidx)
    ivf.make_direct_map(False)

    configs = []
    t = time.perf_counter()
    ours = adanns.IVFPQIndex(d, nlist, coarse_dim=d, pq_dim=d, m=m, opq=True, metric="cosine", keep_full="ram", seed=1)
    ours.train(xb)
    ours.add(xb)
    out["build_s_adanns"] = time.perf_counter() - t
    configs.append(("adanns IVF-OPQ (coarse_dim=pq_dim=50)", ours))

    fmem = m + 8 + 4 * d  # IVF codes + ids, refine index: full float vectors
    out["memory_per_vector"] = {"faiss": fmem, "adanns": ours.memory_per_vector()["total"]}
    grid = [(p, kf) for p in args.nprobes for kf in args.k_factors]
    for nprobe, kf in grid:
        ivf.nprobe = nprobe
        refine.k_factor = kf
        (_, If), tf = timed(lambda: fidx.search(xqn, 10), args.repeat)
        rf = recall_at_k(If, gt, 10)
        row = dict(system="faiss OPQ,IVF,PQ,RFlat", nprobe=nprobe, shortlist=10 * kf, recall10=rf, qps=len(xq) / tf)
        out["rows"].append(row)
        print(f"[b] {row['system']:40s} nprobe {nprobe:3d} shortlist {10*kf:4d}: recall {rf:.4f} QPS {row['qps']:8.0f}", flush=True)
        for label, idx in configs:
            (_, Io), to = timed(lambda: idx.search(xq, 10, nprobe=nprobe, rerank_k=10 * kf), args.repeat)
            ro = recall_at_k(Io, gt, 10)
            row = dict(system=label, nprobe=nprobe, shortlist=10 * kf, recall10=ro, qps=len(xq) / to)
            out["rows"].append(row)
            print(f"[b] {label:40s} nprobe {nprobe:3d} shortlist {10*kf:4d}: recall {ro:.4f} QPS {row['qps']:8.0f}", flush=True)
    best = {}
    for r in out["rows"]:
        if r["recall10"] >= args.target and r["qps"] > best.get(r["system"], {}).get("qps", 0):
            best[r["system"]] = r
    out["best_at_target"] = best
    for s, r in best.items():
        print(f"[b] best at recall >= {args.target}: {s}: {r}")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--part", default="ab")
    ap.add_argument("--m", type=int, default=10)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobes", type=int, nargs="+", default=[8, 16, 32])
    ap.add_argument("--k-factors", type=int, nargs="+", default=[2, 5, 10])
    ap.add_argument("--target", type=float, default=0.9)
    ap.add_argument("--a-queries", type=int, default=500)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    result = dict(machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
                  simd=adanns.simd_level())
    if "a" in args.part:
        result["prefix_vs_full"] = part_a(args)
    if "b" in args.part:
        result["vs_faiss"] = part_b(args)
    if args.out:
        write_json(args.out, result, indent=2)


if __name__ == "__main__":
    main()
