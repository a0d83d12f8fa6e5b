"""Filtered search: adanns IVF-Flat ``search(filter=...)`` against Faiss IndexIVFFlat with an
IDSelector, at selectivities 100%, 10%, 1%, 0.1%, measured in one run on GloVe-50 (cosine).

For each selectivity the allowed ids are a random subset; the ground truth is the exact top-10
over that subset. Both engines get the same nlist and the same nprobe values; adanns is run with
``widen=False`` (the given nprobe, like Faiss) and with its default automatic widening.

    python benchmarks/filtered.py [--n 400000] [--nq 2000] [--out docs/results/filtered.json]
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

import adanns
from adanns._measure import best_time
from adanns.bench.report import write_json
from adanns.datasets import load_glove50
from adanns.evaluation import recall_at_k


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=400_000)
    ap.add_argument("--nq", type=int, default=2_000)
    ap.add_argument("--nlist", type=int, default=1024)
    ap.add_argument("--nprobe", type=int, nargs="+", default=[8, 32])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    import faiss

    ds = load_glove50(n_query=args.nq, seed=0)
    xb, xq = ds.xb[: args.n], ds.xq
    n, d = xb.shape
    # cosine for both: Faiss on normalised vectors with inner product
    xbn = xb / np.linalg.norm(xb, axis=1, keepdims=True).clip(1e-12)
    xqn = xq / np.linalg.norm(xq, axis=1, keepdims=True).clip(1e-12)

    ours = adanns.IVFIndex(d, args.nlist, metric="cosine")
    ours.train(xb)
    ours.add(xb)
    quant = faiss.IndexFlatIP(d)
    theirs = faiss.IndexIVFFlat(quant, d, args.nlist, faiss.METRIC_INNER_PRODUCT)
    theirs.train(xbn)
    theirs.add(xbn)
    exact = adanns.FlatIndex(d, "cosine")
    exact.add(xb)

    rng = np.random.default_rng(0)
    rows = []
    print(f"GloVe-50 {n} x {d}, {xq.shape[0]} queries, nlist {args.nlist}, {faiss.omp_get_max_threads()} threads")
    print(f"{'sel':>6} {'nprobe':>6} | {'adanns rec':>10} {'QPS':>8} | {'faiss rec':>9} {'QPS':>8} | "
          f"{'ratio':>6} | {'auto rec':>8} {'QPS':>8} {'nprobe':>6}")
    for sel in (1.0, 0.1, 0.01, 0.001):
        allowed = np.sort(rng.choice(n, max(1, int(sel * n)), replace=False)).astype(np.int64)
        mask = np.zeros(n, bool)
        mask[allowed] = True
        f_raw = adanns.IDFilter.from_mask(mask, widen=False)
        f_auto = adanns.IDFilter.from_mask(mask)
        gt = exact.search(xq, 10, filter=f_raw)[1]
        bitmap = np.packbits(mask, bitorder="little")
        sel_faiss = faiss.IDSelectorBitmap(n, faiss.swig_ptr(bitmap))
        for nprobe in args.nprobe:
            params = faiss.SearchParametersIVF(sel=sel_faiss, nprobe=nprobe)
            I_f = theirs.search(xqn, 10, params=params)[1]
            I_o = ours.search(xq, 10, nprobe=nprobe, filter=f_raw)[1]
            I_a = ours.search(xq, 10, nprobe=nprobe, filter=f_auto)[1]
            t_f = best_time(lambda: theirs.search(xqn, 10, params=params), args.repeat)
            t_o = best_time(lambda: ours.search(xq, 10, nprobe=nprobe, filter=f_raw), args.repeat)
            t_a = best_time(lambda: ours.search(xq, 10, nprobe=nprobe, filter=f_auto), args.repeat)
            auto_nprobe = f_auto.widened(nprobe, 10, n, args.nlist)
            kk = min(10, allowed.size)
            r_f, r_o, r_a = (recall_at_k(I[:, :kk], gt[:, :kk], kk) for I in (I_f, I_o, I_a))
            q = xq.shape[0]
            row = dict(selectivity=sel, nprobe=nprobe, adanns_recall=r_o, adanns_qps=q / t_o, faiss_recall=r_f,
                       faiss_qps=q / t_f, qps_ratio=t_f / t_o, auto_nprobe=auto_nprobe, auto_recall=r_a,
                       auto_qps=q / t_a)
            rows.append(row)
            print(f"{sel:>6.3f} {nprobe:>6} | {r_o:>10.4f} {q / t_o:>8.0f} | {r_f:>9.4f} {q / t_f:>8.0f} | "
                  f"{t_f / t_o:>6.2f} | {r_a:>8.4f} {q / t_a:>8.0f} {auto_nprobe:>6}", flush=True)
    # the cost of the filter check itself: unfiltered vs an allow-everything bitmap, same nprobe
    everything = adanns.IDFilter.from_mask(np.ones(n, bool), widen=False)
    t_none = best_time(lambda: ours.search(xq, 10, nprobe=32), args.repeat)
    t_all = best_time(lambda: ours.search(xq, 10, nprobe=32, filter=everything), args.repeat)
    print(f"nprobe 32: unfiltered {xq.shape[0] / t_none:.0f} QPS, allow-all bitmap {xq.shape[0] / t_all:.0f} QPS "
          f"(ratio {t_none / t_all:.3f})")
    if args.out:
        write_json(args.out, dict(machine=platform.processor() or platform.machine(), n=n, nq=int(xq.shape[0]),
                                  nlist=args.nlist, rows=rows, unfiltered_qps=xq.shape[0] / t_none,
                                  allow_all_qps=xq.shape[0] / t_all))


if __name__ == "__main__":
    main()
