"""Rigid IVF-Flat against Faiss IndexIVFFlat on GloVe-50, measured in one run.

The foundation issue's bar: coarse_dim = scan_dim = dim, no rerank, cosine, 390k base,
10k queries, nlist 1024, nprobe 8 / 16 / 32; recall@10 and batch queries/second.

    python benchmarks/rigid_ivf_vs_faiss.py [--out docs/results/rigid_ivf_glove.json]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import adanns
from adanns.datasets import load_glove50
from adanns.bench.report import write_json
from adanns.evaluation import ground_truth, recall_at_k, timed


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import faiss

    ds = load_glove50(n_query=10_000, seed=0)
    xb, xq = ds.xb, ds.xq
    n, d = xb.shape
    gt = ground_truth(xb, xq, 10, "cosine")

    ours = adanns.IVFIndex(d, args.nlist, metric="cosine", seed=1234)
    t = time.perf_counter()
    ours.train(xb)
    ours.add(xb)
    build_ours = time.perf_counter() - t

    xbn, xqn = xb.copy(), xq.copy()
    faiss.normalize_L2(xbn)
    faiss.normalize_L2(xqn)
    quant = faiss.IndexFlatIP(d)
    theirs = faiss.IndexIVFFlat(quant, d, args.nlist, faiss.METRIC_INNER_PRODUCT)
    t = time.perf_counter()
    theirs.train(xbn)
    theirs.add(xbn)
    build_faiss = time.perf_counter() - t

    rows = []
    for nprobe in (8, 16, 32):
        theirs.nprobe = nprobe
        # Faiss gets pre-normalised queries (its normalisation is not timed); ours normalises inside.
        (_, If), tf = timed(lambda: theirs.search(xqn, 10), args.repeat)
        (_, Io), to = timed(lambda: ours.search(xq, 10, nprobe=nprobe), args.repeat)
        rows.append(
            dict(
                nprobe=nprobe,
                recall_adanns=recall_at_k(Io, gt, 10),
                recall_faiss=recall_at_k(If, gt, 10),
                qps_adanns=len(xq) / to,
                qps_faiss=len(xq) / tf,
            )
        )
        rows[-1]["qps_ratio"] = rows[-1]["qps_adanns"] / rows[-1]["qps_faiss"]
        print(
            f"nprobe {nprobe:3d}: recall adanns {rows[-1]['recall_adanns']:.4f} faiss {rows[-1]['recall_faiss']:.4f} | "
            f"QPS adanns {rows[-1]['qps_adanns']:.0f} faiss {rows[-1]['qps_faiss']:.0f} ratio {rows[-1]['qps_ratio']:.2f}",
            flush=True,
        )
    result = dict(
        dataset=f"glove-50 cosine, {n} base, {len(xq)} queries",
        nlist=args.nlist,
        machine=f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        adanns_simd=adanns.simd_level(),
        faiss_version=faiss.__version__,
        build_s=dict(adanns=build_ours, faiss=build_faiss),
        rows=rows,
    )
    print(f"build (train+add): adanns {build_ours:.1f} s, faiss {build_faiss:.1f} s")
    if args.out:
        write_json(args.out, result, indent=2)


if __name__ == "__main__":
    main()
